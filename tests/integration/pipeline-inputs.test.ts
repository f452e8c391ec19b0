import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileFormatError, InvalidArgumentError, LimitExceededError, ManifestError, MmditError } from '../../src/errors.js';
import { GpuContext } from '../../src/gpu/device.js';
import { createNodeGpu, type NodeGpu } from '../../src/node/dawn.js';
import { createPipeline } from '../../src/node/pipeline.js';
import type { Progress } from '../../src/pipeline/progress.js';
import type { GenerateOptions, Pipeline } from '../../src/pipeline/types.js';
import { buildPipelineModel } from '../helpers/pipeline-model.js';
import type { TinyModel } from '../helpers/tiny-model.js';
import { testGpu } from '../setup/gpu.js';

const HAS_F16 = (await testGpu()).ctx.caps.f16;

/**
 * Every bad input is a typed error naming the parameter and what is allowed, raised before any
 * download or GPU work: pipeline options before the adapter is asked for, generate options
 * before anything is submitted (no progress event at all).
 */

let node: NodeGpu;
let tiny: TinyModel;
let pipeline: Pipeline;
let dir: string;
const events: Progress[] = [];

beforeAll(async () => {
  node = createNodeGpu();
  tiny = await buildPipelineModel();
  dir = await mkdtemp(path.join(tmpdir(), 'mmdit-inputs-'));
  pipeline = await createPipeline({ gpu: node.gpu, model: tiny.modelDir });
});

afterAll(async () => {
  pipeline?.dispose();
  await tiny?.dispose();
  await rm(dir, { recursive: true, force: true });
  node?.dispose();
});

const image = (w: number, h: number) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) });

const GENERATE_CASES: [string, Partial<GenerateOptions>, string, RegExp][] = [
  ['width not a multiple of 16', { width: 72 }, 'width', /multiple of 16 in 16…256/],
  ['width below 16', { width: 0 }, 'width', /multiple of 16/],
  ['width beyond the position table', { width: 272 }, 'width', /256 \(the model's position table\)/],
  ['height not a multiple of 16', { height: 40 }, 'height', /multiple of 16/],
  ['height not an integer', { height: 64.5 }, 'height', /multiple of 16/],
  ['numInferenceSteps < 1', { numInferenceSteps: 0 }, 'numInferenceSteps', /1…200/],
  ['numInferenceSteps not an integer', { numInferenceSteps: 2.5 }, 'numInferenceSteps', /1…200/],
  ['numInferenceSteps above the engine maximum', { numInferenceSteps: 201 }, 'numInferenceSteps', /1…200/],
  ['guidance NaN', { guidanceScale: Number.NaN }, 'guidanceScale', /finite number ≥ 0/],
  ['guidance negative', { guidanceScale: -0.5 }, 'guidanceScale', /finite number ≥ 0/],
  ['seed negative', { seed: -1 }, 'seed', /0…4294967295/],
  ['seed not an integer', { seed: 1.5 }, 'seed', /0…/],
  ['seed out of range', { seed: 2 ** 32 }, 'seed', /0…4294967295/],
  ['seed + images out of range', { seed: 2 ** 32 - 2, numImagesPerPrompt: 3 }, 'seed', /0…4294967293/],
  ['numImagesPerPrompt 0', { numImagesPerPrompt: 0 }, 'numImagesPerPrompt', /1…4/],
  ['numImagesPerPrompt 5', { numImagesPerPrompt: 5 }, 'numImagesPerPrompt', /1…4/],
  ['strength 0', { image: image(64, 64), strength: 0 }, 'strength', /\(0, 1\]/],
  ['strength above 1', { image: image(64, 64), strength: 1.5 }, 'strength', /\(0, 1\]/],
  ['strength without an image', { strength: 0.5 }, 'image', /RGBA8 image/],
  ['an image of the wrong size', { image: image(32, 64), strength: 0.5 }, 'image', /64×64 RGBA8/],
  ['maxSequenceLength out of range', { maxSequenceLength: 513 }, 'maxSequenceLength', /1…512/],
  ['prompt not a string', { prompt: 7 as unknown as string }, 'prompt', /string/],
  ['negativePrompt not a string', { negativePrompt: null as unknown as string }, 'negativePrompt', /string/],
  ['shift not positive', { shift: 0 }, 'shift', /> 0/],
];

describe('generate: bad options fail before any GPU work', () => {
  for (const [name, options, parameter, allowed] of GENERATE_CASES) {
    it(name, async () => {
      const seen: Progress[] = [];
      const error = await pipeline.generate({ prompt: 'a red circle', ...options, onProgress: (e) => seen.push(e) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).parameter).toBe(parameter);
      expect((error as InvalidArgumentError).message).toMatch(allowed);
      expect(seen).toEqual([]);
    });
  }

  it('a size over the device binding limit says what to lower', async () => {
    const p = await createPipeline({ gpu: node.gpu, model: tiny.modelDir, limits: { maxStorageBufferBindingSize: 256 * 1024 } });
    try {
      const error = await p.generate({ prompt: 'x', width: 256, height: 256, numImagesPerPrompt: 4 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LimitExceededError);
      expect((error as LimitExceededError).limit).toBe('maxStorageBufferBindingSize');
      expect((error as Error).message).toMatch(/lower width\/height or numImagesPerPrompt/);
    } finally {
      p.dispose();
    }
  });
});

describe('createPipeline: bad options fail before any download or GPU work', () => {
  const before = async (o: Parameters<typeof createPipeline>[0]): Promise<unknown> => {
    const acquire = vi.spyOn(GpuContext, 'acquire');
    const seen: Progress[] = [];
    const error = await createPipeline({ gpu: node.gpu, ...o, onProgress: (e) => seen.push(e) }).catch((e: unknown) => e);
    const asked = acquire.mock.calls.length;
    acquire.mockRestore();
    expect(seen.filter((e) => e.phase === 'download')).toEqual([]);
    return { error, asked };
  };

  it('an unknown model id names the catalogue ids', async () => {
    const catalogue = path.join(dir, 'catalogue.json');
    await writeFile(catalogue, JSON.stringify({ format: 'mmdit-webgpu.catalogue/1', models: { tiny: { manifest: tiny.manifestPath } } }));
    const { error, asked } = (await before({ model: 'no-such-model', catalogue })) as { error: InvalidArgumentError; asked: number };
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.parameter).toBe('model');
    expect(error.allowed).toMatch(/tiny/);
    expect(asked).toBe(0);
  });

  it('an unknown variant names the variants', async () => {
    const { error, asked } = (await before({ model: tiny.modelDir, variant: 'int3' as 'int8' })) as { error: InvalidArgumentError; asked: number };
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.parameter).toBe('variant');
    expect(asked).toBe(0);
    const other = (await before({ model: tiny.modelDir, variant: 'int8' })) as { error: InvalidArgumentError };
    expect(other.error.parameter).toBe('variant');
    expect(other.error.allowed).toMatch(/f16/);
  });

  it('a manifest that is not a manifest is a ManifestError naming the field', async () => {
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ format: 'something-else', components: {} }));
    const { error, asked } = (await before({ model: bad })) as { error: ManifestError; asked: number };
    expect(error).toBeInstanceOf(ManifestError);
    expect(error.path).toBe('format');
    const notJson = path.join(dir, 'not.json');
    await writeFile(notJson, 'not json');
    expect(((await before({ model: notJson })) as { error: unknown }).error).toBeInstanceOf(FileFormatError);
    expect(asked).toBe(0);
  });

  it.skipIf(HAS_F16)('f16 precision on an adapter without shader-f16 (skipped: the adapter has shader-f16)', async () => {
    const { error } = (await before({ model: tiny.modelDir, precision: 'f16' })) as { error: InvalidArgumentError };
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.parameter).toBe('precision');
    expect(error.allowed).toMatch(/lacks shader-f16/);
  });

  it('T5 requested from a model that has none', async () => {
    const { error, asked } = (await before({ model: tiny.modelDir, textEncoders: { t5: true } })) as { error: InvalidArgumentError; asked: number };
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.parameter).toBe('textEncoders.t5');
    expect(error.allowed).toMatch(/has no T5/);
    expect(asked).toBe(0);
  });

  it('bad residency, precision and busyPolicy values', async () => {
    for (const [o, parameter] of [[{ residency: 'some' }, 'residency'], [{ precision: 'f64' }, 'precision'], [{ busyPolicy: 'drop' }, 'busyPolicy']] as const) {
      const { error, asked } = (await before({ model: tiny.modelDir, ...(o as object) })) as { error: MmditError; asked: number };
      expect((error as InvalidArgumentError).parameter).toBe(parameter);
      expect(asked).toBe(0);
    }
  });
});
