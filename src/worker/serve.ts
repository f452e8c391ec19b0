import { deserializeError, serializeError } from '../errors.js';
import type { Pipeline, PipelineOptions } from '../pipeline/types.js';
import { type FromWorker, imageBuffers, type MessageEndpoint, type ToWorker } from './protocol.js';

type Create = (o: PipelineOptions) => Promise<Pipeline>;

/**
 * The worker side: answers one client's messages with one pipeline (created by `create`, by
 * default the browser `createPipeline`). Images and previews are transferred. Returns a function
 * that stops listening.
 */
export function servePipeline(scope: MessageEndpoint, create: Create): () => void {
  let pipeline: Pipeline | null = null;
  const controllers = new Map<number, AbortController>();
  const post = (m: FromWorker, transfer: Transferable[] = []): void => scope.postMessage(m, transfer);
  const fail = (id: number, error: unknown): void => post({ type: 'error', id, error: serializeError(error) });

  const listener = (event: MessageEvent): void => {
    const m = event.data as ToWorker;
    switch (m.type) {
      case 'create': {
        const controller = new AbortController();
        controllers.set(m.id, controller);
        create({ ...m.options, signal: controller.signal, onProgress: (e) => post({ type: 'progress', id: m.id, event: e }) })
          .then((p) => {
            pipeline?.dispose();
            pipeline = p;
            post({ type: 'created', id: m.id, info: p.info });
          }, (error: unknown) => fail(m.id, error))
          .finally(() => controllers.delete(m.id));
        break;
      }
      case 'generate': {
        if (!pipeline) {
          fail(m.id, new Error('no pipeline in this worker: send "create" first'));
          break;
        }
        const controller = new AbortController();
        controllers.set(m.id, controller);
        pipeline
          .generate({
            ...m.options,
            signal: controller.signal,
            onProgress: (e) => post({ type: 'progress', id: m.id, event: e }, e.phase === 'denoise' ? imageBuffers(e.preview) : []),
          })
          .then((result) => post({ type: 'result', id: m.id, result }, imageBuffers(result.images)), (error: unknown) => fail(m.id, error))
          .finally(() => controllers.delete(m.id));
        break;
      }
      case 'abort':
        controllers.get(m.id)?.abort(deserializeError(m.reason));
        break;
      case 'dispose':
        pipeline?.dispose();
        pipeline = null;
        post({ type: 'disposed', id: m.id });
        break;
    }
  };
  scope.addEventListener('message', listener);
  return () => scope.removeEventListener('message', listener);
}
