import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError, FileFormatError, InvalidArgumentError } from '../errors.js';
import { GraphBuilder, type Value } from '../graph/builder.js';
import { compileGraph } from '../graph/compile.js';
import { type ClipActivation, type ClipConfig, type ClipModel, type ClipOverrides, openClipCheckpoint } from '../models/clip/index.js';
import { assembleConditioning } from '../models/conditioning.js';
import { bucketMatrix, openT5Checkpoint, type T5Config, type T5Overrides } from '../models/t5/index.js';
import { ClipTextEncoder } from '../runtime/clip.js';
import { T5TextEncoder } from '../runtime/t5.js';
import { readTensor } from '../tensor/read.js';
import type { GpuTensor } from '../tensor/tensor.js';
import { parseManifest, resolveRelative } from '../weights/manifest.js';
import { openDiffusersShards, openSafetensors } from '../weights/safetensors.js';
import type { TensorSource } from '../weights/tensor-source.js';
import { fileDirectoryReader, fileSource } from './file-source.js';
import { localManifestComponent } from './local-manifest.js';
import { runtimeOf } from './verify-runtime.js';
import { insideFolder, parseJson, readTextChecked } from './fs-checks.js';
import {
  type CaseRun,
  type CaseRunner,
  describeCaseConfig,
  readVectorTensor,
  type TensorCheck,
  type VectorCase,
  type VectorTensor,
  type VerifyRunOptions,
  type WeightsFit,
  withWeightsProbe,
} from './verify.js';

/**
 * verify runners of the text kinds (TEXT_VAE_SPEC.md §7): `clip_l`, `clip_g` (sequence, both
 * pooled rules, last hidden state, end-token index, embeddings and every layer), `t5` (sequence,
 * buckets, position bias, embeddings, every block) and `conditioning` (the assembly from the
 * encoders' stored outputs, exact). The encoders take their architecture from the weights; the
 * index `configs` supply only what shapes cannot show (CLIP heads, activation, eps; T5 max distance).
 */

type ConfigRecord = Readonly<Record<string, unknown>>;
type TextComponent = 'clip_l' | 'clip_g' | 't5';

/** Relative-L2 limits for replaced quantised/f16 weights (ISSUE_NOTES, issue 4: "any other case", forward). */
const REPLACED_LIMITS = { f16: 1.2e-3, int8: 2.2e-2, int4: 0.35 } as const;

function numberField(config: ConfigRecord | undefined, key: string): number | undefined {
  const v = config?.[key];
  return typeof v === 'number' ? v : undefined;
}

function input(c: VectorCase, name: string): VectorTensor {
  const t = c.inputs[name];
  if (!t) throw new FileFormatError(c.name, `case has no input "${name}"`);
  return t;
}

/** Activation names as configs spell them (HF `hidden_act`, the index's `activation`). */
const ACTIVATIONS: Readonly<Record<string, ClipActivation>> = {
  quick_gelu: 'quick_gelu',
  gelu: 'gelu_erf',
  gelu_erf: 'gelu_erf',
  gelu_new: 'gelu_tanh',
  gelu_tanh: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
};

function clipOverrides(model: ClipModel, config: ConfigRecord | undefined): ClipOverrides {
  const heads = numberField(config, 'num_heads');
  const eps = numberField(config, 'layer_norm_eps');
  const act = config?.['activation'];
  const activation = typeof act === 'string' ? ACTIVATIONS[act] : undefined;
  if (typeof act === 'string' && !activation) throw new InvalidArgumentError('CLIP activation', Object.keys(ACTIVATIONS).join(', '), act);
  const projected = config?.['sd3_pooled_projected'];
  return {
    model,
    ...(heads !== undefined ? { heads } : {}),
    ...(eps !== undefined ? { eps } : {}),
    ...(activation ? { activation } : {}),
    ...(typeof projected === 'boolean' ? { projectPooled: projected } : {}),
  };
}

function t5Overrides(config: ConfigRecord | undefined): T5Overrides {
  const maxDistance = numberField(config, 'max_distance');
  const eps = numberField(config, 'layer_norm_eps');
  return { ...(maxDistance !== undefined ? { maxDistance } : {}), ...(eps !== undefined ? { eps } : {}) };
}

/**
 * A text component from `--weights`: a converted manifest (its `clip_l`/`clip_g`/`t5` component), a
 * safetensors file (standalone or an SD3 single file), or a diffusers folder (the model root or the
 * encoder's own folder).
 */
async function openTextWeights(path: string, component: TextComponent): Promise<TensorSource | null> {
  const info = await stat(path).catch(() => null);
  if (!info) throw new FileFormatError(path, 'no such file or folder');
  if (info.isDirectory()) {
    const sub = join(path, { clip_l: 'text_encoder', clip_g: 'text_encoder_2', t5: 'text_encoder_3' }[component]);
    const isRoot = await stat(sub).then((s) => s.isDirectory(), () => false);
    return openDiffusersShards(fileDirectoryReader, isRoot ? sub : path, { unsupported: 'skip' });
  }
  if (path.endsWith('.json')) {
    const manifest = parseManifest(parseJson(await readTextChecked(path), path), path);
    if (!manifest.components[component]) return null;
    return localManifestComponent(path, manifest, component);
  }
  return openSafetensors(await fileSource(path), { unsupported: 'skip' });
}

type Scheme = 'f32' | 'f16' | 'int8' | 'int4';

function schemeOf(source: TensorSource): Scheme {
  const infos = [...source.tensors.values()];
  if (infos.some((t) => t.dtype === 'Q4')) return 'int4';
  if (infos.some((t) => t.dtype === 'Q8')) return 'int8';
  if (infos.some((t) => t.shape.length >= 2 && (t.dtype === 'F16' || t.dtype === 'BF16'))) return 'f16';
  return 'f32';
}

function clipFits(c: ClipConfig, r: ConfigRecord | undefined): boolean {
  return Boolean(r) && r?.['hidden_size'] === c.hidden && r?.['num_layers'] === c.layers && r?.['intermediate_size'] === c.mlpHidden &&
    (r?.['vocab_size'] ?? c.vocabSize) === c.vocabSize && (r?.['max_positions'] ?? c.maxPositions) === c.maxPositions;
}

function t5Fits(c: T5Config, r: ConfigRecord | undefined): boolean {
  return Boolean(r) && r?.['d_model'] === c.dModel && r?.['num_heads'] === c.heads && r?.['d_kv'] === c.dKv && r?.['d_ff'] === c.dFf &&
    r?.['num_layers'] === c.layers && (r?.['vocab_size'] ?? c.vocabSize) === c.vocabSize && (r?.['num_buckets'] ?? c.numBuckets) === c.numBuckets;
}

interface WeightsChoice {
  readonly path: string;
  readonly open: () => Promise<TensorSource>;
  /** Set when replaced weights are judged by relative L2 (quantised, or f16 over f32 weights). */
  readonly relL2?: number;
}

/** The configuration a text component's weights derive, in words, or why they hold none. */
type TextDerive = (source: TensorSource, c: VectorCase, o: VerifyRunOptions) => { readonly fits: boolean; readonly config: string };

const deriveClip: TextDerive = (src, c, o) => {
  const record = o.index.configs[c.config];
  const config = openClipCheckpoint(src, clipOverrides(c.kind as ClipModel, record)).config;
  return { fits: clipFits(config, record), config: `a CLIP text encoder of hidden_size ${config.hidden}, num_layers ${config.layers}, intermediate_size ${config.mlpHidden}, vocab_size ${config.vocabSize}` };
};

const deriveT5: TextDerive = (src, c, o) => {
  const record = o.index.configs[c.config];
  const config = openT5Checkpoint(src, t5Overrides(record)).config;
  return { fits: t5Fits(config, record), config: `a T5 encoder of d_model ${config.dModel}, num_heads ${config.heads}, d_kv ${config.dKv}, d_ff ${config.dFf}, num_layers ${config.layers}` };
};

/** Whether `--weights` hold this component in the case's architecture (a CheckpointError: they do not). */
async function textFit(c: VectorCase, o: VerifyRunOptions, component: TextComponent, derive: TextDerive): Promise<WeightsFit & { override?: TensorSource }> {
  const caseConfig = describeCaseConfig(c.config, o.index.configs[c.config]);
  if (!o.weights) return { fits: false, weightsConfig: 'none given', caseConfig };
  const override = await openTextWeights(o.weights, component);
  if (!override) return { fits: false, weightsConfig: `a manifest without a ${component} component`, caseConfig };
  try {
    const { fits, config } = derive(override, c, o);
    return { fits, weightsConfig: config, caseConfig, override };
  } catch (error) {
    if (!(error instanceof CheckpointError)) throw error;
    return { fits: false, weightsConfig: `not a ${component} checkpoint (${error.message})`, caseConfig };
  }
}

/** The case's own weights, or `--weights` when they hold this component in the case's architecture. */
async function chooseWeights(c: VectorCase, dir: string, o: VerifyRunOptions, component: TextComponent, derive: TextDerive): Promise<WeightsChoice> {
  if (o.weights) {
    const { fits, override } = await textFit(c, o, component, derive);
    if (override && fits) {
      const scheme = schemeOf(override);
      const path = o.weights;
      o.ranOn?.(path);
      const open = async () => (await openTextWeights(path, component)) as TensorSource;
      // The public cases store F16 weights: f16 replacements are judged like the case's own.
      return scheme === 'int8' || scheme === 'int4' ? { path, open, relL2: REPLACED_LIMITS[scheme] } : { path, open };
    }
  }
  if (!c.weights) throw new InvalidArgumentError(`${c.name} weights`, 'a weights file in the case or --weights', null);
  const path = insideFolder(dir, c.weights);
  o.ranOn?.(path);
  return { path, open: async () => openSafetensors(await fileSource(path), { unsupported: 'skip' }) };
}

function check(name: string, role: TensorCheck['role'], got: Float32Array, expected: Float32Array, maxAbs: number, relL2: number | undefined): TensorCheck {
  return relL2 === undefined ? { name, role, got, expected, maxAbs } : { name, role, got, expected, maxAbs, relL2 };
}

/** Pairs every listed output and intermediate with what the engine produced for it. */
async function collect(dir: string, c: VectorCase, relL2: number | undefined, produced: (name: string) => Promise<Float32Array>): Promise<CaseRun> {
  const tensors: TensorCheck[] = [];
  const groups = [['output', c.outputs], ['intermediate', c.intermediates ?? {}]] as const;
  for (const [role, group] of groups) {
    for (const [name, t] of Object.entries(group)) {
      const limit = t.maxAbs ?? (role === 'intermediate' ? c.tolerance.intermediatesMaxAbs : undefined) ?? c.tolerance.maxAbs;
      // Exact integer results (buckets, end-token index) stay exact whatever the weights.
      const exact = t.dtype === 'int32';
      tensors.push(check(name, role, await produced(name), await readVectorTensor(dir, t), limit, exact ? undefined : relL2));
    }
  }
  return { tensors };
}

/** `clip_l` / `clip_g`. */
export const runClipCase: CaseRunner = withWeightsProbe(async (gpu, c, dir, o) => {
  const model = c.kind as ClipModel;
  const overrides = clipOverrides(model, o.index.configs[c.config]);
  const weights = await chooseWeights(c, dir, o, model, deriveClip);
  const encoder = await o.scope.keep(
    `${model}|${weights.path}|${o.precision}|${JSON.stringify(overrides)}`,
    async () => ClipTextEncoder.load(runtimeOf(gpu), await weights.open(), { ...overrides, precision: o.precision }),
    (e) => e.dispose(),
  );
  const tokens = input(c, 'tokens');
  const ids = await readVectorTensor(dir, tokens);
  const out = await encoder.encode(ids, { batch: tokens.shape[0] as number, extras: true, taps: true });
  const byName: Record<string, GpuTensor | undefined> = {
    seq: out.seq,
    pooled: out.pooled,
    [model === 'clip_g' ? 'pooled_unprojected' : 'pooled_projected']: out.pooledAlternative,
    last_hidden: out.lastHidden,
  };
  return collect(dir, c, weights.relL2, async (name) => {
    if (name === 'eot_index') return Float32Array.from(out.eot);
    const t = byName[name] ?? out.taps.get(name);
    if (!t) throw new InvalidArgumentError(`${c.name} tensor`, `one of ${[...Object.keys(byName), 'eot_index', ...out.taps.keys()].join(', ')}`, name);
    return readTensor(gpu.ctx, t);
  });
}, (c, o) => textFit(c, o, c.kind as ClipModel, deriveClip));

/** `t5` (always f32 compute: T5 v1.1 activations overflow f16). */
export const runT5Case: CaseRunner = withWeightsProbe(async (gpu, c, dir, o) => {
  const overrides = t5Overrides(o.index.configs[c.config]);
  const weights = await chooseWeights(c, dir, o, 't5', deriveT5);
  const encoder = await o.scope.keep(
    `t5|${weights.path}|${JSON.stringify(overrides)}`,
    async () => T5TextEncoder.load(runtimeOf(gpu), await weights.open(), overrides),
    (e) => e.dispose(),
  );
  const tokens = input(c, 'tokens');
  const [batch, length] = tokens.shape as [number, number];
  const out = await encoder.encode(await readVectorTensor(dir, tokens), { batch, taps: true });
  return collect(dir, c, weights.relL2, async (name) => {
    if (name === 'buckets') return Float32Array.from(bucketMatrix(length, length, encoder.config.numBuckets, encoder.config.maxDistance));
    const t = name === 'seq' ? out.seq : out.taps.get(name);
    if (!t) throw new InvalidArgumentError(`${c.name} tensor`, `one of seq, buckets, ${[...out.taps.keys()].join(', ')}`, name);
    return readTensor(gpu.ctx, t);
  });
}, (c, o) => textFit(c, o, 't5', deriveT5));

/** `conditioning`: the encoders' outputs from the vectors, assembled on the GPU (exact). */
export const runConditioningCase: CaseRunner = async (gpu, c, dir, o) => {
  const config = o.index.configs[c.config];
  const { ctx, cache } = gpu;
  // The encoders' outputs are graph inputs: the compiled graph owns their buffers.
  const names = ['l_seq', 'g_seq', 'l_pooled', 'g_pooled', ...(c.inputs['t5_seq'] ? ['t5_seq'] : [])];
  const b = new GraphBuilder(ctx.caps, 'f32', false);
  const value = new Map(names.map((name) => [name, b.input(name, input(c, name).shape, 'f32')]));
  const at = (name: string) => value.get(name) as Value;
  const [batch, clipTokens] = at('l_seq').shape as [number, number];
  const t5Seq = value.get('t5_seq') ?? null;
  const contextDim = numberField(config, 'context_dim') ?? 4096;
  const t5Tokens = t5Seq ? (t5Seq.shape[1] as number) : (numberField(config, 't5_absent_rows') ?? clipTokens);
  const out = assembleConditioning(b, {
    batch, lSeq: at('l_seq'), gSeq: at('g_seq'), t5Seq, lPooled: at('l_pooled'), gPooled: at('g_pooled'), clipTokens, t5Tokens, contextDim,
  });
  b.output('context', out.context);
  b.output('pooled', out.pooled);
  const graph = await compileGraph(ctx, cache, b);
  try {
    for (const name of names) ctx.write(graph.input(name).buffer, 0, await readVectorTensor(dir, input(c, name)));
    graph.run();
    return await collect(dir, c, undefined, async (name) => readTensor(ctx, graph.output(name)));
  } finally {
    graph.dispose();
  }
};

export const TEXT_CASE_RUNNERS: Readonly<Record<string, CaseRunner>> = {
  clip_l: runClipCase,
  clip_g: runClipCase,
  t5: runT5Case,
  conditioning: runConditioningCase,
};
