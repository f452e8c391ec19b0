import { type ClipTextEncoder, loadClipEncoder } from '../runtime/clip.js';
import { type Denoiser, loadDenoiser } from '../runtime/denoiser.js';
import type { Runtime } from '../runtime/runtime.js';
import { loadT5Encoder, type T5TextEncoder } from '../runtime/t5.js';
import { loadVae, type Vae } from '../runtime/vae.js';
import type { WeightMap } from '../runtime/weight-map.js';
import { loadModelWeights } from '../runtime/weights.js';
import type { ShardCache } from '../weights/cache.js';
import type { LoadEvent } from '../weights/loader.js';
import type { ComponentName } from '../weights/manifest.js';
import type { ResolvedModel } from './model.js';
import type { Progress } from './progress.js';
import type { PipelineHost } from './types.js';

/**
 * The model's components through the runtime's one weights path: the requested components' shards
 * in one verified stream (SHA-256 before any byte reaches the GPU, the shard cache, two shards in
 * flight, abort between shards), then each component built on its WeightMap. The pipeline owns
 * those WeightMaps and releases them with their component.
 */

export interface TextEncoders {
  readonly clipL: ClipTextEncoder;
  readonly clipG: ClipTextEncoder;
  readonly t5: T5TextEncoder | null;
}

export interface LoadContext {
  readonly rt: Runtime;
  readonly host: PipelineHost;
  readonly model: ResolvedModel;
  readonly shardCache: ShardCache | null;
  readonly precision: 'f32' | 'f16';
  readonly emit: (e: Progress) => void;
}

/** A component and the weights it was built on (released together). */
export interface Loaded<T extends { dispose(): void }> {
  readonly component: T;
  readonly weights: readonly WeightMap[];
}

export function release<T extends { dispose(): void }>(l: Loaded<T> | null): void {
  l?.component.dispose();
  for (const w of l?.weights ?? []) w.release();
}

async function weightsOf(l: LoadContext, components: readonly ComponentName[], signal?: AbortSignal): Promise<Record<string, WeightMap>> {
  const readShard = l.host.readShard;
  const maps = await loadModelWeights(
    l.rt,
    {
      manifest: l.model.manifest,
      manifestUrl: l.model.url,
      cache: l.shardCache,
      onProgress: (e: LoadEvent) => {
        if (e.phase === 'download') l.emit({ phase: 'download', component: e.component, file: e.file, loadedBytes: e.loadedBytes, totalBytes: e.totalBytes, fromCache: e.fromCache });
        else l.emit({ phase: 'warning', code: e.code, message: e.message });
      },
      ...(readShard ? { readShard: (url: string, _entry: unknown, s?: AbortSignal) => readShard(url, s) } : {}),
      ...(signal ? { signal } : {}),
    },
    components,
  );
  return maps as Record<string, WeightMap>;
}

export async function loadTextEncoders(l: LoadContext, t5: boolean, signal?: AbortSignal): Promise<Loaded<{ dispose(): void } & TextEncoders>> {
  const w = await weightsOf(l, t5 ? ['clip_l', 'clip_g', 't5'] : ['clip_l', 'clip_g'], signal);
  const weights = Object.values(w);
  const made: { dispose(): void }[] = [];
  try {
    // The reference runs every text encoder in f32; the conditioning copies read f32.
    const clipL = await loadClipEncoder(l.rt, w['clip_l'] as WeightMap, { model: 'clip_l' });
    made.push(clipL);
    const clipG = await loadClipEncoder(l.rt, w['clip_g'] as WeightMap, { model: 'clip_g' });
    made.push(clipG);
    const t5Encoder = t5 ? await loadT5Encoder(l.rt, w['t5'] as WeightMap) : null;
    const component = {
      clipL,
      clipG,
      t5: t5Encoder,
      dispose: () => {
        clipL.dispose();
        clipG.dispose();
        t5Encoder?.dispose();
      },
    };
    return { component, weights };
  } catch (error) {
    for (const m of made) m.dispose();
    for (const m of weights) m.release();
    throw error;
  }
}

async function single<T extends { dispose(): void }>(l: LoadContext, c: ComponentName, make: (w: WeightMap) => Promise<T>, signal?: AbortSignal): Promise<Loaded<T>> {
  const w = (await weightsOf(l, [c], signal))[c] as WeightMap;
  try {
    return { component: await make(w), weights: [w] };
  } catch (error) {
    w.release();
    throw error;
  }
}

export function loadDenoiserComponent(l: LoadContext, signal?: AbortSignal): Promise<Loaded<Denoiser>> {
  return single(l, 'mmdit', (w) => loadDenoiser(l.rt, w, { precision: l.precision }), signal);
}

export function loadVaeComponent(l: LoadContext, signal?: AbortSignal): Promise<Loaded<Vae>> {
  return single(l, 'vae', (w) => loadVae(l.rt, w, { precision: l.precision }), signal);
}
