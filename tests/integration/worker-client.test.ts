import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ManifestError } from '../../src/errors.js';
import { createNodeGpu, type NodeGpu } from '../../src/node/dawn.js';
import { createPipeline } from '../../src/node/pipeline.js';
import type { Progress } from '../../src/pipeline/progress.js';
import type { GenerateResult, Pipeline } from '../../src/pipeline/types.js';
import { createWorkerPipeline, type MessageEndpoint, servePipeline } from '../../src/worker/index.js';
import { buildPipelineModel } from '../helpers/pipeline-model.js';
import type { TinyModel } from '../helpers/tiny-model.js';

/**
 * The worker client against the worker side over a real MessageChannel (structured clone and
 * transfer as between a page and a worker), the pipeline behind it on Dawn.
 */

let node: NodeGpu;
let tiny: TinyModel;
let client: Pipeline;
let direct: Pipeline;
let port1: MessagePort;
let port2: MessagePort;
const served: GenerateResult[] = [];

beforeAll(async () => {
  node = createNodeGpu();
  tiny = await buildPipelineModel();
  ({ port1, port2 } = new MessageChannel());
  port1.start();
  port2.start();
  servePipeline(port2 as unknown as MessageEndpoint, async (o) => {
    const p = await createPipeline({ ...o, gpu: node.gpu });
    // Watch what the worker side hands over, to check it was transferred, not copied.
    const generate = p.generate.bind(p);
    return Object.assign(Object.create(p) as Pipeline, { info: p.info, dispose: () => p.dispose(), generate: async (g: Parameters<Pipeline['generate']>[0]) => {
      const r = await generate(g);
      served.push(r);
      return r;
    } });
  });
  client = await createWorkerPipeline(port1 as unknown as MessageEndpoint, { model: tiny.modelDir });
  direct = await createPipeline({ gpu: node.gpu, model: tiny.modelDir });
});

afterAll(async () => {
  client?.dispose();
  direct?.dispose();
  await new Promise((r) => setTimeout(r, 100));
  port1?.close();
  await tiny?.dispose();
  node?.dispose();
});

const isAbort = (e: unknown): boolean => e instanceof DOMException && e.name === 'AbortError';

describe('createWorkerPipeline', () => {
  it('has the same info, and generates the same pixels as the pipeline in this thread', async () => {
    expect(client.info).toEqual(direct.info);
    const events: Progress[] = [];
    const r = await client.generate({ prompt: 'a red circle', seed: 5, previews: true, onProgress: (e) => events.push(e) });
    const d = await direct.generate({ prompt: 'a red circle', seed: 5 });
    expect(Buffer.from(r.images[0]!.data).equals(Buffer.from(d.images[0]!.data))).toBe(true);
    expect(r.parameters).toBe(d.parameters);
    expect(events.map((e) => e.phase)).toEqual(expect.arrayContaining(['text', 'denoise', 'decode', 'done']));
    expect(events.some((e) => e.phase === 'denoise' && e.preview && e.preview[0]!.data.length === 8 * 8 * 4)).toBe(true);
    // Transferred: the worker side's pixel buffer is detached after posting.
    expect(served.at(-1)!.images[0]!.data.byteLength).toBe(0);
  });

  it('proxies abort: the call rejects with AbortError and the next one works', async () => {
    const controller = new AbortController();
    const run = client.generate({ prompt: 'x', numInferenceSteps: 5, signal: controller.signal, onProgress: (e) => e.phase === 'denoise' && controller.abort() });
    await expect(run).rejects.toSatisfy(isAbort);
    await expect(client.generate({ prompt: 'x', signal: AbortSignal.abort() })).rejects.toSatisfy(isAbort);
    const r = await client.generate({ prompt: 'x', numInferenceSteps: 1 });
    expect(r.images).toHaveLength(1);
  });

  it('errors arrive as the same typed classes with their fields', async () => {
    const error = await client.generate({ prompt: 'x', width: 72 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).parameter).toBe('width');
    expect((error as InvalidArgumentError).received).toBe(72);
    const { port1: a, port2: b } = new MessageChannel();
    a.start();
    b.start();
    servePipeline(b as unknown as MessageEndpoint, (o) => createPipeline({ ...o, gpu: node.gpu }));
    const created = await createWorkerPipeline(a as unknown as MessageEndpoint, { model: tiny.modelDir, variant: 'int8' }).catch((e: unknown) => e);
    expect(created).toBeInstanceOf(InvalidArgumentError);
    expect((created as InvalidArgumentError).parameter).toBe('variant');
    const missing = await createWorkerPipeline(a as unknown as MessageEndpoint, { model: { format: 'nope' } as never, manifestUrl: 'm.json' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ManifestError);
    a.close();
  });

  it('after dispose, generate is a DisposedError', async () => {
    const { port1: a, port2: b } = new MessageChannel();
    a.start();
    b.start();
    servePipeline(b as unknown as MessageEndpoint, (o) => createPipeline({ ...o, gpu: node.gpu }));
    const p = await createWorkerPipeline(a as unknown as MessageEndpoint, { model: tiny.modelDir });
    p.dispose();
    await expect(p.generate({ prompt: 'x' })).rejects.toMatchObject({ code: 'DISPOSED' });
    await new Promise((r) => setTimeout(r, 100));
    a.close();
  });
});
