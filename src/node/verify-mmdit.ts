import { FileFormatError, InvalidArgumentError } from '../errors.js';
import { checkForwardInputs, type MmditConfig } from '../models/mmdit/index.js';
import { type Denoiser, loadDenoiser } from '../runtime/denoiser.js';
import { canonicalizeMmdit } from '../models/mmdit/keys.js';
import { readSampledLatent } from '../runtime/finite-check.js';
import { sample } from '../runtime/sampler.js';
import { readTensor } from '../tensor/read.js';
import type { TensorSource } from '../weights/tensor-source.js';
import {
  type CaseRun,
  type CaseRunner,
  describeCaseConfig,
  readVectorTensor,
  type TensorCheck,
  type VectorCase,
  type VerifyGpu,
  type VerifyRunOptions,
  type WeightsFit,
  withWeightsProbe,
} from './verify.js';
import { insideFolder } from './fs-checks.js';
import { runtimeOf } from './verify-runtime.js';
import { openWeightsFile } from './weights-source.js';

/**
 * verify runners of the denoiser's kinds (MODEL_SPEC §7–8): `forward` (one call, every
 * intermediate the case lists) and `sampling` (the whole Euler/CFG loop, with the latent after
 * every step). The engine takes its configuration from the weights, never from `configs`.
 */

/**
 * Opens the denoiser of the weights at `path`: a .safetensors or .onnx file, a single-file
 * checkpoint with other components, a diffusers folder or root, or a converted manifest.
 */
export function openWeights(path: string): Promise<TensorSource> {
  return openWeightsFile(path, 'mmdit');
}

type Scheme = 'f32' | 'f16' | 'int8' | 'int4';

/**
 * Relative-L2 limits for replaced weights (ISSUE_NOTES, issue 4), per case and scheme; `null`:
 * the f32 max-abs tolerance applies (weights stored as F16 in the case itself).
 */
const REPLACED_LIMITS: Readonly<Record<string, Readonly<Record<Exclude<Scheme, 'f32'>, number | null>>>> = {
  'c1_sd3m/forward_b2_32x32': { f16: 0.00052, int8: 0.0034, int4: 0.048 },
  'c1_sd3m/forward_b1_24x40': { f16: 0.00051, int8: 0.0036, int4: 0.047 },
  'c1_sd3m/sample_euler_8steps_cfg5_shift3': { f16: 0.00065, int8: 0.0062, int4: 0.11 },
  'c2_sd35l_qknorm/forward_b2_16x24': { f16: 0.0005, int8: 0.0029, int4: 0.038 },
  'c3_sd35m_mmditx/forward_b2_32x32': { f16: 0.0005, int8: 0.0035, int4: 0.049 },
  'c3_sd35m_mmditx/forward_b2_32x32_diffusers': { f16: 0.0005, int8: 0.0035, int4: 0.049 },
  'c4_big_d4/forward_b2_64x64': { f16: null, int8: 0.0052, int4: 0.071 },
};
const DEFAULT_LIMITS: Readonly<Record<string, Readonly<Record<Exclude<Scheme, 'f32'>, number>>>> = {
  forward: { f16: 1.2e-3, int8: 2.2e-2, int4: 0.35 },
  sampling: { f16: 7.7e-4, int8: 8.0e-3, int4: 0.11 },
};

function schemeOf(source: TensorSource): Scheme {
  const infos = [...source.tensors.values()];
  if (infos.some((t) => t.dtype === 'Q4')) return 'int4';
  if (infos.some((t) => t.dtype === 'Q8')) return 'int8';
  if (infos.some((t) => t.shape.length >= 2 && (t.dtype === 'F16' || t.dtype === 'BF16'))) return 'f16';
  return 'f32';
}

/** Whether derived weights describe the architecture of an index `configs` entry. */
function fits(config: MmditConfig, record: Readonly<Record<string, unknown>> | undefined): boolean {
  if (!record) return false;
  const dual = Array.isArray(record['x_block_self_attn_layers']) ? (record['x_block_self_attn_layers'] as number[]) : [];
  return (
    record['depth'] === config.depth &&
    record['hidden'] === config.hidden &&
    (record['head_dim'] ?? config.headDim) === config.headDim &&
    record['patch'] === config.patch &&
    record['pos_embed_max_size'] === config.posEmbedMaxSize &&
    record['context_dim'] === config.contextDim &&
    record['adm_dim'] === config.pooledDim &&
    (record['qk_norm'] === 'rms') === config.qkNorm &&
    dual.join() === config.dualAttentionLayers.join() &&
    (record['in_channels'] ?? config.inChannels) === config.inChannels &&
    (record['out_channels'] ?? config.outChannels) === config.outChannels
  );
}

function describeMmdit(config: MmditConfig): string {
  return `an MM-DiT of depth ${config.depth}, hidden ${config.hidden}, head_dim ${config.headDim}, patch ${config.patch}, pos_embed_max_size ${config.posEmbedMaxSize}, ` +
    `context_dim ${config.contextDim}, adm_dim ${config.pooledDim}, qk_norm ${config.qkNorm ? 'rms' : 'none'}, ` +
    `x_block_self_attn_layers [${config.dualAttentionLayers.join(', ')}]`;
}

/** The fit rule of both denoiser kinds, on the weights' derived configuration. */
async function mmditFit(c: VectorCase, o: VerifyRunOptions): Promise<WeightsFit & { override?: TensorSource }> {
  const caseConfig = describeCaseConfig(c.config, o.index.configs[c.config]);
  if (!o.weights) return { fits: false, weightsConfig: 'none given', caseConfig };
  const override = await openWeights(o.weights);
  const config = canonicalizeMmdit(override).config;
  return { fits: fits(config, o.index.configs[c.config]), weightsConfig: describeMmdit(config), caseConfig, override };
}

interface Loaded {
  readonly denoiser: Denoiser;
  /** Relative-L2 limit when replaced weights are judged by it. */
  readonly relL2?: number;
}

async function denoiserFor(gpu: VerifyGpu, c: VectorCase, dir: string, o: VerifyRunOptions): Promise<Loaded> {
  let path = c.weights ? insideFolder(dir, c.weights) : null;
  let relL2: number | undefined;
  if (o.weights) {
    const { fits: fitsCase, override } = await mmditFit(c, o);
    if (fitsCase && override) {
      path = o.weights;
      const scheme = schemeOf(override);
      if (scheme !== 'f32') {
        const limit = REPLACED_LIMITS[c.name]?.[scheme];
        const ownDtype = o.index.configs[c.config]?.['weights_dtype'];
        if (limit !== null && !(scheme === 'f16' && ownDtype === 'F16')) {
          relL2 = limit ?? DEFAULT_LIMITS[c.kind]?.[scheme] ?? DEFAULT_LIMITS['forward']![scheme];
        }
      }
    }
  }
  if (!path) throw new InvalidArgumentError(`${c.name} weights`, 'a weights file in the case or --weights', null);
  const weightsPath = path;
  o.ranOn?.(weightsPath);
  const denoiser = await o.scope.keep(
    `mmdit|${weightsPath}|${o.precision}`,
    async () => loadDenoiser(runtimeOf(gpu), await openWeights(weightsPath), { precision: o.precision }),
    (d) => d.dispose(),
  );
  return relL2 === undefined ? { denoiser } : { denoiser, relL2 };
}

function check(name: string, role: TensorCheck['role'], got: Float32Array, expected: Float32Array, maxAbs: number, relL2: number | undefined): TensorCheck {
  return relL2 === undefined ? { name, role, got, expected, maxAbs } : { name, role, got, expected, maxAbs, relL2 };
}

function input(c: VectorCase, name: string) {
  const t = c.inputs[name];
  if (!t) throw new FileFormatError(`${c.name}`, `case has no input "${name}"`);
  return t;
}

export const runForwardCase: CaseRunner = withWeightsProbe(async (gpu, c, dir, o): Promise<CaseRun> => {
  const { denoiser, relL2 } = await denoiserFor(gpu, c, dir, o);
  const [x, t, context, y] = ['x', 't', 'context', 'y'].map((n) => input(c, n));
  const shape = checkForwardInputs(denoiser.config, { x: x!.shape, t: t!.shape, context: context!.shape, y: y!.shape });
  // Replaced weights are judged on the case's outputs only (ISSUE_NOTES, issue 4).
  const intermediates = relL2 === undefined ? Object.entries(c.intermediates ?? {}) : [];
  const graph = await denoiser.compile({ ...shape, taps: intermediates.length > 0 });
  try {
    graph.writeLatent(await readVectorTensor(dir, x!));
    graph.writeContext(await readVectorTensor(dir, context!));
    graph.writePooled(await readVectorTensor(dir, y!));
    graph.writeTimesteps(Array.from(await readVectorTensor(dir, t!)), 0);
    graph.forward(0);
    const tensors: TensorCheck[] = [];
    for (const [name, spec] of Object.entries(c.outputs)) {
      tensors.push(check(name, 'output', await readTensor(gpu.ctx, graph.output), await readVectorTensor(dir, spec), spec.maxAbs ?? c.tolerance.maxAbs, relL2));
    }
    for (const [name, spec] of intermediates) {
      const tap = graph.taps.get(name);
      if (!tap) throw new InvalidArgumentError(`${c.name} intermediate`, `one of ${[...graph.taps.keys()].join(', ')}`, name);
      const limit = spec.maxAbs ?? c.tolerance.intermediatesMaxAbs ?? c.tolerance.maxAbs;
      tensors.push(check(name, 'intermediate', await readTensor(gpu.ctx, tap), await readVectorTensor(dir, spec), limit, relL2));
    }
    return { tensors };
  } finally {
    graph.dispose();
  }
}, mmditFit);

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export const runSamplingCase: CaseRunner = withWeightsProbe(async (gpu, c, dir, o): Promise<CaseRun> => {
  const { denoiser, relL2 } = await denoiserFor(gpu, c, dir, o);
  const p = c.params ?? {};
  const steps = p['steps'];
  const guidance = p['cfg_scale'];
  const shift = p['shift'];
  if (typeof steps !== 'number' || typeof guidance !== 'number') throw new FileFormatError(c.name, 'sampling case without params.steps and params.cfg_scale');
  const format = (p['latent_format'] ?? {}) as { scale_factor?: number; shift_factor?: number };
  const noiseSpec = input(c, 'noise');
  const [condContext, uncondContext] = [input(c, 'cond_context'), input(c, 'uncond_context')];
  const cfg = guidance !== 1;
  const shape = checkForwardInputs(denoiser.config, {
    x: noiseSpec.shape,
    t: [noiseSpec.shape[0] as number],
    context: condContext.shape,
    y: input(c, 'cond_y').shape,
  });
  const graph = await denoiser.compile({ ...shape, cfg });
  try {
    const cond = await readVectorTensor(dir, condContext);
    const condY = await readVectorTensor(dir, input(c, 'cond_y'));
    graph.writeContext(cfg ? concat(cond, await readVectorTensor(dir, uncondContext)) : cond);
    graph.writePooled(cfg ? concat(condY, await readVectorTensor(dir, input(c, 'uncond_y'))) : condY);
    const wanted = new Map(relL2 === undefined ? Object.entries(c.intermediates ?? {}) : []);
    const latents = new Map<string, Float32Array>();
    await sample(graph, {
      steps,
      guidanceScale: guidance,
      ...(typeof shift === 'number' ? { shift } : {}),
      noise: await readVectorTensor(dir, noiseSpec),
      ...(wanted.size > 0
        ? { inspect: async (i: number, l: Parameters<typeof readTensor>[1]) => { if (wanted.has(`latent_step${i + 1}`)) latents.set(`latent_step${i + 1}`, await readTensor(gpu.ctx, l)); } }
        : {}),
    });
    // The latent and its non-finite check in one readback: NaN/Inf fails the case as NonFiniteError.
    const final = await readSampledLatent(graph);
    const scale = format.scale_factor ?? 1.5305;
    const offset = format.shift_factor ?? 0.0609;
    const produced: Record<string, Float32Array> = { final, final_vae_in: final.map((v) => v / scale + offset) };
    const tensors: TensorCheck[] = [];
    for (const [name, spec] of Object.entries(c.outputs)) {
      const got = produced[name];
      if (!got) throw new InvalidArgumentError(`${c.name} output`, Object.keys(produced).join(' or '), name);
      tensors.push(check(name, 'output', got, await readVectorTensor(dir, spec), spec.maxAbs ?? c.tolerance.maxAbs, relL2));
    }
    for (const [name, spec] of wanted) {
      const got = latents.get(name);
      if (!got) throw new InvalidArgumentError(`${c.name} intermediate`, `latent_step1…latent_step${steps}`, name);
      const limit = spec.maxAbs ?? c.tolerance.intermediatesMaxAbs ?? c.tolerance.maxAbs;
      tensors.push(check(name, 'intermediate', got, await readVectorTensor(dir, spec), limit, relL2));
    }
    return { tensors };
  } finally {
    graph.dispose();
  }
}, mmditFit);

export const MMDIT_CASE_RUNNERS: Readonly<Record<string, CaseRunner>> = {
  forward: runForwardCase,
  sampling: runSamplingCase,
};
