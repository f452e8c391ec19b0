import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError, FileFormatError, InvalidArgumentError } from '../errors.js';
import { openVaeCheckpoint, type VaeConfig, type VaeOverrides } from '../models/vae/index.js';
import { Vae } from '../runtime/vae.js';
import { readTensor } from '../tensor/read.js';
import { parseManifest, resolveRelative } from '../weights/manifest.js';
import { openDiffusersShards, openSafetensors } from '../weights/safetensors.js';
import type { TensorSource } from '../weights/tensor-source.js';
import { fileDirectoryReader, fileSource } from './file-source.js';
import { localManifestComponent } from './local-manifest.js';
import { runtimeOf } from './verify-runtime.js';
import { insideFolder, parseJson, readTextChecked } from './fs-checks.js';
import { type CaseRun, type CaseRunner, readVectorTensor, type TensorCheck, type VectorCase, type VectorTensor, type VerifyRunOptions, describeCaseConfig, type WeightsFit, withWeightsProbe } from './verify.js';

/**
 * verify runners of the VAE kinds (TEXT_VAE_SPEC §7): `vae_decode` (float image, uint8 image
 * exact or off by one, per-block intermediates) and `vae_encode` (mean, clamped logvar,
 * process_in latent, intermediates). Vectors are NCHW; the engine's maps are NHWC and are
 * transposed here, on the CPU, for comparison only.
 */

type ConfigRecord = Readonly<Record<string, unknown>>;

function overridesOf(config: ConfigRecord | undefined): VaeOverrides {
  const pick = (key: string) => (typeof config?.[key] === 'number' ? (config[key] as number) : undefined);
  const groups = pick('norm_num_groups');
  const eps = pick('norm_eps');
  const scale = pick('scaling_factor');
  const shift = pick('shift_factor');
  return {
    ...(groups !== undefined ? { groups } : {}),
    ...(eps !== undefined ? { eps } : {}),
    ...(scale !== undefined ? { scale } : {}),
    ...(shift !== undefined ? { shift } : {}),
  };
}

/** A VAE from `--weights`: a converted manifest (`vae` component), a safetensors file, or a diffusers folder. */
async function openVaeWeights(path: string): Promise<TensorSource | null> {
  const info = await stat(path).catch(() => null);
  if (!info) throw new FileFormatError(path, 'no such file or folder');
  if (info.isDirectory()) {
    const sub = join(path, 'vae');
    const isRoot = await stat(sub).then((s) => s.isDirectory(), () => false);
    return openDiffusersShards(fileDirectoryReader, isRoot ? sub : path, { unsupported: 'skip' });
  }
  if (path.endsWith('.json')) {
    const manifest = parseManifest(parseJson(await readTextChecked(path), path), path);
    if (!manifest.components['vae']) return null;
    return localManifestComponent(path, manifest, 'vae');
  }
  return openSafetensors(await fileSource(path), { unsupported: 'skip' });
}

function fits(config: VaeConfig, record: ConfigRecord | undefined, kind: string): boolean {
  const channels = record?.['block_out_channels'];
  const sameChannels = Array.isArray(channels) && channels.length === config.channels.length && channels.every((c, i) => c === config.channels[i]);
  return sameChannels && (kind === 'vae_decode' ? config.hasDecoder : config.hasEncoder);
}

async function vaeFit(c: VectorCase, o: VerifyRunOptions): Promise<WeightsFit> {
  const caseConfig = describeCaseConfig(c.config, o.index.configs[c.config]);
  if (!o.weights) return { fits: false, weightsConfig: 'none given', caseConfig };
  const override = await openVaeWeights(o.weights);
  if (!override) return { fits: false, weightsConfig: 'a manifest without a vae component', caseConfig };
  try {
    const config = openVaeCheckpoint(override, overridesOf(o.index.configs[c.config])).config;
    const parts = [config.hasEncoder ? 'encoder' : '', config.hasDecoder ? 'decoder' : ''].filter(Boolean).join(' and ');
    return { fits: fits(config, o.index.configs[c.config], c.kind), weightsConfig: `a VAE (${parts || 'no encoder or decoder'}) of block_out_channels [${config.channels.join(', ')}]`, caseConfig };
  } catch (error) {
    if (!(error instanceof CheckpointError)) throw error;
    return { fits: false, weightsConfig: `not a VAE checkpoint (${error.message})`, caseConfig };
  }
}

async function chooseWeights(c: VectorCase, dir: string, o: VerifyRunOptions): Promise<{ path: string; open: () => Promise<TensorSource> }> {
  if (o.weights && (await vaeFit(c, o)).fits) {
    const path = o.weights;
    o.ranOn?.(path);
    return { path, open: async () => (await openVaeWeights(path)) as TensorSource };
  }
  if (!c.weights) throw new InvalidArgumentError(`${c.name} weights`, 'a weights file in the case or --weights', null);
  const path = insideFolder(dir, c.weights);
  o.ranOn?.(path);
  return { path, open: async () => openSafetensors(await fileSource(path), { unsupported: 'skip' }) };
}

function vectorInput(c: VectorCase, name: string): VectorTensor {
  const t = c.inputs[name];
  if (!t) throw new FileFormatError(c.name, `case has no input "${name}"`);
  return t;
}

/** NHWC `[B, H·W, C]` → NCHW `[B, C, H, W]`. */
export function nhwcToNchw(x: Float32Array, batch: number, channels: number, pixels: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < batch; b++) for (let c = 0; c < channels; c++) for (let p = 0; p < pixels; p++) out[(b * channels + c) * pixels + p] = x[(b * pixels + p) * channels + c] as number;
  return out;
}

async function loadVae(gpu: Parameters<CaseRunner>[0], c: VectorCase, dir: string, o: VerifyRunOptions): Promise<Vae> {
  const overrides = overridesOf(o.index.configs[c.config]);
  const weights = await chooseWeights(c, dir, o);
  return o.scope.keep(
    `vae|${weights.path}|${o.precision}|${JSON.stringify(overrides)}`,
    async () => Vae.load(runtimeOf(gpu), await weights.open(), { ...overrides, precision: o.precision }),
    (vae) => vae.dispose(),
  );
}

/** Pairs every listed output and intermediate with what the engine produced for it. */
async function collect(dir: string, c: VectorCase, produced: (name: string, t: VectorTensor) => Promise<Float32Array>): Promise<CaseRun> {
  const tensors: TensorCheck[] = [];
  const groups = [['output', c.outputs], ['intermediate', c.intermediates ?? {}]] as const;
  for (const [role, group] of groups) {
    for (const [name, t] of Object.entries(group)) {
      const maxAbs = t.maxAbs ?? (role === 'intermediate' ? c.tolerance.intermediatesMaxAbs : undefined) ?? c.tolerance.maxAbs;
      tensors.push({ name, role, got: await produced(name, t), expected: await readVectorTensor(dir, t), maxAbs });
    }
  }
  return { tensors };
}

/** `vae_decode`: latent `[1, C, h, w]` in denoiser space → image `[1, 3, H, W]` and `image_u8` `[1, H, W, 3]`. */
export const runVaeDecodeCase: CaseRunner = withWeightsProbe(async (gpu, c, dir, o) => {
  const vae = await loadVae(gpu, c, dir, o);
  const latentInfo = vectorInput(c, 'latent');
  const [batch, , latentHeight, latentWidth] = latentInfo.shape as [number, number, number, number];
  const latent = await readVectorTensor(dir, latentInfo);
  const graph = await vae.compileDecoder({ batch, latentHeight, latentWidth, taps: true });
  gpu.ctx.write(graph.latent.buffer, 0, latent);
  graph.run();
  const images = await graph.readImages();
  return collect(dir, c, async (name, t) => {
    if (name === 'image_u8') {
      const out = new Float32Array(t.shape.reduce((p, d) => p * d, 1));
      let at = 0;
      for (const img of images) for (let p = 0; p < img.width * img.height; p++) for (let k = 0; k < 3; k++) out[at++] = img.data[p * 4 + k] as number;
      return out;
    }
    const [b, ch, h, w] = t.shape as [number, number, number, number];
    return nhwcToNchw(await graph.readTap(name), b, ch, h * w);
  });
}, vaeFit);

/** `vae_encode`: `image_u8` `[1, H, W, 3]` → mean, logvar, latent `[1, C, h, w]`. */
export const runVaeEncodeCase: CaseRunner = withWeightsProbe(async (gpu, c, dir, o) => {
  const vae = await loadVae(gpu, c, dir, o);
  const imageInfo = vectorInput(c, 'image_u8');
  const [batch, height, width] = imageInfo.shape as [number, number, number, number];
  const bytes = await readVectorTensor(dir, imageInfo);
  const rgba = new Uint8Array(batch * height * width * 4);
  for (let p = 0; p < batch * height * width; p++) {
    for (let k = 0; k < 3; k++) rgba[p * 4 + k] = bytes[p * 3 + k] as number;
    rgba[p * 4 + 3] = 255;
  }
  const scale = 2 ** (vae.config.channels.length - 1);
  const graph = await vae.compileEncoder({ batch, latentHeight: height / scale, latentWidth: width / scale, taps: true });
  gpu.ctx.write(graph.rgba.buffer, 0, rgba);
  graph.run();
  return collect(dir, c, async (name, t) => {
    if (name === 'mean' || name === 'logvar' || name === 'latent') return readTensor(gpu.ctx, graph.output(name));
    const [b, ch, h, w] = t.shape as [number, number, number, number];
    return nhwcToNchw(await graph.readTap(name), b, ch, h * w);
  });
}, vaeFit);

export const VAE_CASE_RUNNERS: Readonly<Record<string, CaseRunner>> = {
  vae_decode: runVaeDecodeCase,
  vae_encode: runVaeEncodeCase,
};
