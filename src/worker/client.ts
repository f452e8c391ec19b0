import { deserializeError, DisposedError, serializeError } from '../errors.js';
import type { Progress } from '../pipeline/progress.js';
import type { GenerateOptions, GenerateResult, Pipeline, PipelineInfo, PipelineOptions } from '../pipeline/types.js';
import type { FromWorker, MessageEndpoint, ToWorker, WorkerGenerateOptions, WorkerPipelineOptions } from './protocol.js';

interface Call {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly onProgress: ((e: Progress) => void) | undefined;
}

/** Absolute URLs for the worker, whose base URL is its script's, not the page's. */
function absolute(ref: unknown): unknown {
  const base = typeof document !== 'undefined' ? document.baseURI : globalThis.location?.href;
  if (!base) return ref;
  if (ref instanceof URL) return ref.href;
  if (typeof ref === 'string' && /[/\\]|\.json$/.test(ref)) return new URL(ref, base).href;
  return ref;
}

function cloneable(o: PipelineOptions): WorkerPipelineOptions {
  const { gpu: _gpu, onProgress: _p, signal: _s, ...rest } = o;
  const out: Record<string, unknown> = { ...rest };
  if (rest.model !== undefined) out['model'] = absolute(rest.model);
  if (rest.manifestUrl !== undefined) out['manifestUrl'] = absolute(rest.manifestUrl);
  if (rest.catalogue !== undefined && (typeof rest.catalogue === 'string' || rest.catalogue instanceof URL)) out['catalogue'] = absolute(rest.catalogue);
  return out as WorkerPipelineOptions;
}

/**
 * The same `Pipeline` interface, served by a worker that runs `mmdit-webgpu/worker/entry` (or
 * calls `servePipeline`): options and results cross by structured clone, images by transfer,
 * `signal` aborts and `onProgress` events are proxied, errors arrive as the same typed classes.
 */
export async function createWorkerPipeline(worker: MessageEndpoint, options: Omit<PipelineOptions, 'gpu'> = {}): Promise<Pipeline> {
  let next = 1;
  const calls = new Map<number, Call>();
  let disposed = false;
  const listener = (event: MessageEvent): void => {
    const m = event.data as FromWorker;
    const call = calls.get(m.id);
    if (!call) return;
    switch (m.type) {
      case 'progress':
        call.onProgress?.(m.event);
        break;
      case 'created':
        calls.delete(m.id);
        call.resolve(m.info);
        break;
      case 'result':
        calls.delete(m.id);
        call.resolve(m.result);
        break;
      case 'disposed':
        calls.delete(m.id);
        call.resolve(undefined);
        break;
      case 'error':
        calls.delete(m.id);
        call.reject(deserializeError(m.error));
        break;
    }
  };
  worker.addEventListener('message', listener);

  const request = <T>(make: (id: number) => ToWorker, onProgress: ((e: Progress) => void) | undefined, signal: AbortSignal | undefined): Promise<T> => {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = next++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => worker.postMessage({ type: 'abort', id, reason: serializeError(signal?.reason) } satisfies ToWorker);
      signal?.addEventListener('abort', onAbort, { once: true });
      calls.set(id, {
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v as T);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
        onProgress,
      });
      worker.postMessage(make(id));
    });
  };

  let info: PipelineInfo;
  try {
    info = await request<PipelineInfo>((id) => ({ type: 'create', id, options: cloneable(options) }), options.onProgress, options.signal);
  } catch (error) {
    worker.removeEventListener('message', listener);
    throw error;
  }
  const pipeline: Pipeline = {
    info,
    generate(g: GenerateOptions): Promise<GenerateResult> {
      if (disposed) return Promise.reject(new DisposedError('Pipeline'));
      const { onProgress, signal, ...rest } = g;
      return request<GenerateResult>((id) => ({ type: 'generate', id, options: rest as WorkerGenerateOptions }), onProgress, signal);
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      void request<undefined>((id) => ({ type: 'dispose', id }), undefined, undefined).finally(() => worker.removeEventListener('message', listener));
    },
    [Symbol.dispose]() {
      pipeline.dispose();
    },
  };
  return pipeline;
}
