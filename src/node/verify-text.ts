import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GpuContext } from '../gpu/device.js';
import { CheckpointError, FileFormatError } from '../gpu/errors.js';
import { GraphBuilder } from '../graph/builder.js';
import { compileGraph } from '../graph/compile.js';
import type { PipelineCache } from '../kernels/pipeline-cache.js';
import { ClipTextEncoder, type ClipModel } from '../models/clip/index.js';
import { assembleConditioning } from '../models/conditioning.js';
import { bucketMatrix, T5TextEncoder } from '../models/t5/index.js';
import { elementCount, type GpuTensor } from '../tensor/tensor.js';
import { openSafetensors } from '../weights/safetensors.js';
import { fileSource } from './file-source.js';

/**
 * Runners for the text kinds of a reference vector set (`clip_l`, `clip_g`, `t5`, `conditioning`;
 * TEXT_VAE_SPEC.md §7): each loads the case's weights, runs the engine on its inputs and returns
 * every output and intermediate next to its expected values and tolerance.
 */

export interface VectorTensor {
  readonly file: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32' | 'uint8';
  readonly maxAbs?: number;
}

export interface VectorCase {
  readonly name: string;
  readonly kind: string;
  readonly config: string;
  readonly weights: string | null;
  readonly inputs: Readonly<Record<string, VectorTensor>>;
  readonly outputs: Readonly<Record<string, VectorTensor>>;
  readonly intermediates?: Readonly<Record<string, VectorTensor>>;
  readonly tolerance: { readonly maxAbs: number };
}

export interface TensorCheck {
  readonly name: string;
  readonly role: 'output' | 'intermediate';
  readonly got: Float32Array;
  readonly expected: Float32Array;
  /** The tolerance that applies (the entry's own maxAbs, else the case's). */
  readonly maxAbs: number;
}

export interface CaseRun {
  readonly tensors: readonly TensorCheck[];
}

export interface VerifyGpu {
  readonly ctx: GpuContext;
  readonly cache: PipelineCache;
}

export type TextCaseRunner = (gpu: VerifyGpu, c: VectorCase, dir: string) => Promise<CaseRun>;

type ConfigRecord = Readonly<Record<string, unknown>>;

const indexConfigs = new Map<string, Promise<Readonly<Record<string, ConfigRecord>>>>();

/** The `configs` of the index.json in `dir` (read once per directory). */
function configsOf(dir: string): Promise<Readonly<Record<string, ConfigRecord>>> {
  let p = indexConfigs.get(dir);
  if (!p) {
    p = readFile(join(dir, 'index.json'), 'utf8').then((text) => (JSON.parse(text) as { configs?: Record<string, ConfigRecord> }).configs ?? {});
    indexConfigs.set(dir, p);
  }
  return p;
}

async function configOf(dir: string, c: VectorCase): Promise<ConfigRecord> {
  const config = (await configsOf(dir))[c.config];
  if (!config) throw new FileFormatError(join(dir, 'index.json'), `case ${c.name} names config "${c.config}", which is not in configs`);
  return config;
}

/** A vector file as f32 (int32 and uint8 entries converted exactly). */
export async function readVector(dir: string, t: VectorTensor): Promise<Float32Array> {
  const path = join(dir, t.file);
  const bytes = await readFile(path);
  const n = elementCount(t.shape);
  const size = { float32: 4, int32: 4, uint8: 1 }[t.dtype];
  if (bytes.byteLength !== n * size) throw new FileFormatError(path, `holds ${bytes.byteLength} bytes, expected ${n * size} for ${t.dtype} ${JSON.stringify(t.shape)}`);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  if (t.dtype === 'float32') return new Float32Array(buffer);
  return Float32Array.from(t.dtype === 'int32' ? new Int32Array(buffer) : new Uint8Array(buffer));
}

async function readInts(dir: string, t: VectorTensor): Promise<Int32Array> {
  return Int32Array.from(await readVector(dir, t));
}

async function readBack(ctx: GpuContext, t: GpuTensor): Promise<Float32Array> {
  return new Float32Array(await ctx.read(t.buffer, t.offset, elementCount(t.shape) * 4));
}

function entry(c: VectorCase, name: string): VectorTensor {
  const t = c.inputs[name];
  if (!t) throw new FileFormatError(c.name, `case has no input "${name}"`);
  return t;
}

/** Pairs every listed output and intermediate with what the engine produced for it. */
async function collect(dir: string, c: VectorCase, produced: (name: string, role: 'output' | 'intermediate') => Promise<Float32Array>): Promise<CaseRun> {
  const tensors: TensorCheck[] = [];
  const groups = [['output', c.outputs], ['intermediate', c.intermediates ?? {}]] as const;
  for (const [role, group] of groups) {
    for (const [name, t] of Object.entries(group)) {
      tensors.push({ name, role, got: await produced(name, role), expected: await readVector(dir, t), maxAbs: t.maxAbs ?? c.tolerance.maxAbs });
    }
  }
  return { tensors };
}

function numberField(config: ConfigRecord, key: string): number | undefined {
  const v = config[key];
  return typeof v === 'number' ? v : undefined;
}

async function openWeights(dir: string, c: VectorCase) {
  if (!c.weights) throw new CheckpointError(c.name, 'case has no weights file');
  return openSafetensors(await fileSource(join(dir, c.weights)), { unsupported: 'skip' });
}

/** `clip_l` / `clip_g`: outputs seq, pooled, the other pooled rule, last_hidden, eot_index; taps. */
export const runClipCase: TextCaseRunner = async (gpu, c, dir) => {
  const config = await configOf(dir, c);
  const model = c.kind as ClipModel;
  const heads = numberField(config, 'num_heads');
  const eps = numberField(config, 'layer_norm_eps');
  const activation = config.activation === 'quick_gelu' ? 'quick_gelu' : config.activation === 'gelu' ? 'gelu_erf' : undefined;
  const encoder = await ClipTextEncoder.load(gpu.ctx, gpu.cache, await openWeights(dir, c), {
    model,
    ...(heads !== undefined ? { heads } : {}),
    ...(eps !== undefined ? { eps } : {}),
    ...(activation ? { activation } : {}),
  });
  try {
    const tokens = entry(c, 'tokens');
    const ids = await readInts(dir, tokens);
    const out = await encoder.encode(ids, { batch: tokens.shape[0] as number, extras: true, taps: true });
    const alternative = model === 'clip_g' ? 'pooled_unprojected' : 'pooled_projected';
    const byName: Record<string, GpuTensor | undefined> = {
      seq: out.seq,
      pooled: out.pooled,
      [alternative]: out.pooledAlternative,
      last_hidden: out.lastHidden,
    };
    return await collect(dir, c, async (name) => {
      if (name === 'eot_index') return Float32Array.from(out.eot);
      const t = byName[name] ?? out.taps.get(name);
      if (!t) throw new FileFormatError(c.name, `the CLIP encoder produces no tensor "${name}"`);
      return readBack(gpu.ctx, t);
    });
  } finally {
    encoder.dispose();
  }
};

/** `t5`: output seq; intermediates buckets (CPU, exact), position_bias, embeddings, layer_i. */
export const runT5Case: TextCaseRunner = async (gpu, c, dir) => {
  const config = await configOf(dir, c);
  const maxDistance = numberField(config, 'max_distance');
  const eps = numberField(config, 'layer_norm_eps');
  const encoder = await T5TextEncoder.load(gpu.ctx, gpu.cache, await openWeights(dir, c), {
    ...(maxDistance !== undefined ? { maxDistance } : {}),
    ...(eps !== undefined ? { eps } : {}),
  });
  try {
    const tokens = entry(c, 'tokens');
    const [batch, length] = tokens.shape as [number, number];
    const out = await encoder.encode(await readInts(dir, tokens), { batch, taps: true });
    return await collect(dir, c, async (name) => {
      if (name === 'buckets') return Float32Array.from(bucketMatrix(length, length, encoder.config.numBuckets, encoder.config.maxDistance));
      const t = name === 'seq' ? out.seq : out.taps.get(name);
      if (!t) throw new FileFormatError(c.name, `the T5 encoder produces no tensor "${name}"`);
      return readBack(gpu.ctx, t);
    });
  } finally {
    encoder.dispose();
  }
};

/** `conditioning`: the encoders' outputs from the vectors, assembled on the GPU (exact). */
export const runConditioningCase: TextCaseRunner = async (gpu, c, dir) => {
  const config = await configOf(dir, c);
  const { ctx, cache } = gpu;
  const owned: GPUBuffer[] = [];
  const upload = async (name: string): Promise<GpuTensor> => {
    const t = entry(c, name);
    const data = await readVector(dir, t);
    const buffer = ctx.createBuffer(name, data.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    owned.push(buffer);
    ctx.write(buffer, 0, data);
    return { buffer, offset: 0, shape: t.shape, format: 'f32', label: name };
  };
  try {
    const lSeq = await upload('l_seq');
    const t5Seq = c.inputs.t5_seq ? await upload('t5_seq') : null;
    const [batch, clipTokens] = lSeq.shape as [number, number];
    const contextDim = numberField(config, 'context_dim') ?? 4096;
    const t5Tokens = t5Seq ? (t5Seq.shape[1] as number) : (numberField(config, 't5_absent_rows') ?? clipTokens);
    const b = new GraphBuilder(ctx.caps, 'f32', false);
    const out = assembleConditioning(b, {
      batch, lSeq, gSeq: await upload('g_seq'), t5Seq, lPooled: await upload('l_pooled'), gPooled: await upload('g_pooled'), clipTokens, t5Tokens, contextDim,
    });
    b.output('context', out.context);
    b.output('pooled', out.pooled);
    const graph = await compileGraph(ctx, cache, b);
    try {
      graph.run();
      return await collect(dir, c, async (name) => readBack(ctx, graph.output(name)));
    } finally {
      graph.dispose();
    }
  } finally {
    for (const buffer of owned) ctx.destroyBuffer(buffer);
  }
};

export const TEXT_CASE_RUNNERS: Readonly<Record<string, TextCaseRunner>> = {
  clip_l: runClipCase,
  clip_g: runClipCase,
  t5: runT5Case,
  conditioning: runConditioningCase,
};
