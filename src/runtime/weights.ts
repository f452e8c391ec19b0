import { CheckpointError, ManifestError } from '../errors.js';
import type { ShardCache } from '../weights/cache.js';
import { type LoadEvent, loadShards, type ShardReader, type VerifiedShard } from '../weights/loader.js';
import { COMPONENTS, type ComponentManifest, type ComponentName, type ModelManifest, type StreamRange } from '../weights/manifest.js';
import { rangePieces } from '../weights/manifest-source.js';
import type { TensorDtype, TensorInfo, TensorSource } from '../weights/tensor-source.js';
import type { Runtime } from './runtime.js';
import { ComponentUpload } from './upload.js';
import { type StoredConfig, WeightMap } from './weight-map.js';

/**
 * From any source to WeightMaps, through the one uploader (upload.ts):
 * - a converted model (manifest): its shards stream in through the loader — HTTP with Range
 *   resume, the IndexedDB or directory cache, or a local reader — each SHA-256-checked as its
 *   bytes arrive and before any of them reaches a GPU buffer, at most two shards in flight, every
 *   requested component in one stream (`loadModelWeights`);
 * - a checkpoint's tensors (`TensorSource`: safetensors, ONNX, diffusers folders, canonical views),
 *   read tensor by tensor (`uploadTensors`).
 */

/** A converted model and how to reach its shards. */
export interface ManifestWeights {
  readonly manifest: ModelManifest;
  /** Where the manifest came from: shard paths resolve against it (URL or path). */
  readonly manifestUrl: string;
  /** Default the global fetch. */
  readonly fetch?: typeof fetch;
  /** Reads shards without HTTP (local files, bundles); verified like downloads. */
  readonly readShard?: ShardReader;
  /** `undefined`: IndexedDB when available; `null`: no cache. */
  readonly cache?: ShardCache | null;
  readonly onProgress?: (event: LoadEvent) => void;
  readonly signal?: AbortSignal;
  /** Shards in flight at once (default 2: memory stays within two shards and a little). */
  readonly concurrency?: number;
  readonly retries?: number;
  readonly backoffMs?: (attempt: number) => number;
  readonly throttleMs?: number;
  /** Called after each verified shard was written to the GPU and before it is let go (measurements, tests). */
  readonly onShardWritten?: (shard: VerifiedShard) => void | Promise<void>;
}

/** One component of a converted model. */
export interface ManifestComponent extends ManifestWeights {
  readonly component: ComponentName;
}

/** What a component loads from: weights already uploaded, a converted model's component, or a checkpoint's tensors. */
export type WeightsInput = WeightMap | ManifestComponent | TensorSource;

export type ModelWeights = { readonly [C in ComponentName]?: WeightMap };

/**
 * A TensorSource that stands for a converted model's component (`openWeightsPath` on a manifest):
 * loading it streams the verified shards instead of reading tensors by range.
 */
export interface ManifestBackedSource extends TensorSource {
  readonly manifestOrigin: ManifestComponent;
}

export function isManifestComponent(input: unknown): input is ManifestComponent {
  return typeof input === 'object' && input !== null && 'manifest' in input && 'component' in input && 'manifestUrl' in input;
}

/** The manifest a source stands for, when it is manifest-backed or a manifest component. */
export function manifestOf(input: WeightsInput): ManifestComponent | null {
  if (input instanceof WeightMap) return null;
  if (isManifestComponent(input)) return input;
  const origin = (input as Partial<ManifestBackedSource>).manifestOrigin;
  return origin ?? null;
}

const DTYPE: Readonly<Record<string, TensorDtype>> = { f32: 'F32', f16: 'F16', bf16: 'BF16', q8: 'Q8', q4: 'Q4' };

/** The tensors of a manifest component as stored, without bytes. */
export function manifestInfos(c: ComponentManifest): Map<string, TensorInfo> {
  const out = new Map<string, TensorInfo>();
  for (const [name, t] of Object.entries(c.tensors)) out.set(name, { name, shape: t.shape, dtype: DTYPE[t.format] as TensorDtype, byteLength: t.bytes });
  return out;
}

/** A manifest component's tensors as a TensorSource that only describes (config derivation, key checks). */
export function describeManifest(m: ManifestComponent): TensorSource {
  const c = m.manifest.components[m.component];
  if (!c) throw new ManifestError(`components.${m.component}`, `model ${m.manifest.model} has no ${m.component} component`);
  const origin = `${m.manifestUrl}#${m.component}`;
  return { origin, tensors: manifestInfos(c), read: (name) => Promise.reject(new CheckpointError(name, `${origin} is read through its verified shards`)) };
}

interface PieceWrite {
  readonly tensor: string;
  readonly what: 'data' | 'scales';
  readonly at: number;
  readonly shardOffset: number;
  readonly bytes: number;
}

/** Per shard, the pieces of tensors (data and scales) it holds, at their offsets in the stored tensor. */
function shardWrites(c: ComponentManifest): Map<number, PieceWrite[]> {
  const out = new Map<number, PieceWrite[]>();
  const add = (tensor: string, what: 'data' | 'scales', ranges: readonly StreamRange[]) => {
    let logical = 0;
    for (const r of ranges) {
      for (const p of rangePieces(c, r.offset, r.bytes)) {
        const list = out.get(p.shard) ?? [];
        list.push({ tensor, what, at: logical + p.rangeOffset, shardOffset: p.shardOffset, bytes: p.bytes });
        out.set(p.shard, list);
      }
      logical += r.bytes;
    }
  };
  for (const [name, t] of Object.entries(c.tensors)) {
    add(name, 'data', t.parts ?? [t]);
    const scales = t.parts ? t.parts.map((p) => p.scales) : t.scales ? [t.scales] : [];
    if (scales.some((s) => s === undefined)) throw new ManifestError(`tensors.${name}`, 'some parts have scales and others none');
    add(name, 'scales', scales as StreamRange[]);
  }
  return out;
}

/**
 * Loads components of a converted model (default: all it has) in one shard stream: verified
 * shards are written into their tensors' buffers as they arrive and then dropped.
 * `check(component, described)` runs on each component's description before any download (the
 * components' configuration and key checks); an error there stops the load before any GPU work.
 */
export async function loadModelWeights(
  rt: Runtime,
  m: ManifestWeights,
  components?: readonly ComponentName[],
  check?: (component: ComponentName, described: TensorSource) => void,
): Promise<ModelWeights> {
  rt.assertUsable();
  const wanted = components ?? COMPONENTS.filter((c) => m.manifest.components[c]);
  for (const c of wanted) {
    if (!m.manifest.components[c]) throw new ManifestError(`components.${c}`, `model ${m.manifest.model} has no ${c} component (it has ${Object.keys(m.manifest.components).join(', ')})`);
    check?.(c, describeManifest({ ...m, component: c }));
  }
  const uploads = new Map<ComponentName, { upload: ComponentUpload; writes: Map<number, PieceWrite[]> }>();
  try {
    for (const c of wanted) {
      const cm = m.manifest.components[c] as ComponentManifest;
      uploads.set(c, { upload: new ComponentUpload(rt.ctx, manifestInfos(cm).values(), `${m.manifestUrl}#${c}`, { widenHalf: rt.widenHalfWeights }), writes: shardWrites(cm) });
    }
    await loadShards({
      manifest: m.manifest,
      manifestUrl: m.manifestUrl,
      components: wanted,
      onShard: async (shard: VerifiedShard) => {
        const u = uploads.get(shard.component);
        for (const w of u?.writes.get(shard.index) ?? []) {
          u?.upload.write(w.tensor, w.what, w.at, shard.bytes.subarray(w.shardOffset, w.shardOffset + w.bytes));
        }
        await m.onShardWritten?.(shard);
      },
      ...(m.fetch ? { fetch: m.fetch } : {}),
      ...(m.readShard ? { readShard: m.readShard } : {}),
      ...(m.cache !== undefined ? { cache: m.cache } : {}),
      ...(m.onProgress ? { onProgress: m.onProgress } : {}),
      ...(m.signal ? { signal: m.signal } : {}),
      ...(m.concurrency !== undefined ? { concurrency: m.concurrency } : {}),
      ...(m.retries !== undefined ? { retries: m.retries } : {}),
      ...(m.backoffMs ? { backoffMs: m.backoffMs } : {}),
      ...(m.throttleMs !== undefined ? { throttleMs: m.throttleMs } : {}),
    });
    const out: { [C in ComponentName]?: WeightMap } = {};
    for (const [c, u] of uploads) out[c] = u.upload.finish(m.manifest.components[c]?.config);
    return out;
  } catch (error) {
    for (const u of uploads.values()) u.upload.abort();
    throw error;
  }
}

export interface UploadTensorsOptions {
  readonly signal?: AbortSignal;
  /** Tensors read from the source at once (default 4); bounds host memory on large checkpoints. */
  readonly concurrency?: number;
}

/**
 * Uploads tensors `names` (default all) of a checkpoint's TensorSource — already under canonical
 * names and layouts — through the one uploader.
 */
export async function uploadTensors(rt: Runtime, source: TensorSource, names?: Iterable<string>, o: UploadTensorsOptions = {}): Promise<WeightMap> {
  rt.assertUsable();
  const wanted = names ? [...names] : [...source.tensors.keys()];
  const infos = wanted.map((name) => {
    const info = source.tensors.get(name);
    if (!info) throw new CheckpointError(name, `is not in ${source.origin}`);
    return info;
  });
  const upload = new ComponentUpload(rt.ctx, infos, source.origin, { widenHalf: rt.widenHalfWeights });
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < infos.length) {
        const info = infos[next++] as TensorInfo;
        o.signal?.throwIfAborted();
        const bytes = await source.read(info.name, o.signal);
        if (bytes.byteLength !== info.byteLength) {
          throw new CheckpointError(info.name, 'has a byte length that does not match its shape and dtype', `${info.byteLength} bytes`, `${bytes.byteLength}`);
        }
        upload.write(info.name, 'data', 0, bytes);
        if (info.dtype === 'Q8' || info.dtype === 'Q4') {
          if (!source.readScales) throw new CheckpointError(info.name, `is ${info.dtype} but ${source.origin} has no scales`);
          upload.write(info.name, 'scales', 0, await source.readScales(info.name, o.signal));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(Math.max(1, o.concurrency ?? 4), Math.max(1, infos.length)) }, worker));
    return upload.finish();
  } catch (error) {
    upload.abort();
    throw error;
  }
}

/**
 * The weights of one component from any input. `canonical(source)` is the component's own
 * canonicalisation (keys.ts) for checkpoints; converted models are already canonical, and the
 * description of their tensors must pass the same check (`check`) before anything downloads.
 * `owned`: whether the caller made them (and so releases them on dispose).
 */
export async function resolveWeights(
  rt: Runtime,
  input: WeightsInput,
  canonical: (source: TensorSource) => TensorSource,
  o: { readonly signal?: AbortSignal } = {},
): Promise<{ weights: WeightMap; owned: boolean }> {
  if (input instanceof WeightMap) return { weights: input, owned: false };
  const manifest = manifestOf(input);
  if (manifest) {
    const m = o.signal && !manifest.signal ? { ...manifest, signal: o.signal } : manifest;
    const loaded = await loadModelWeights(rt, m, [m.component], (_c, described) => requireCanonical(described, canonical(described)));
    return { weights: loaded[m.component] as WeightMap, owned: true };
  }
  const source = input as TensorSource;
  return { weights: await uploadTensors(rt, canonical(source), undefined, o.signal ? { signal: o.signal } : {}), owned: true };
}

/** What a component's checkpoint reader gives: its canonical view of the tensors and its configuration. */
export interface OpenedComponent<Config> {
  readonly canonical: TensorSource;
  readonly config: Config;
}

/**
 * The one load sequence of every resident component: its weights from any input (checked before any
 * upload), read back through the component's own reader with the stored configuration, then
 * constructed. `open(source, stored)` is that reader, given the configuration the manifest records;
 * `construct` builds the component around the weights. Weights this call uploaded are released when
 * anything after the upload fails, so a failed load leaves nothing on the GPU.
 */
export async function loadResident<Config, T>(
  rt: Runtime,
  input: WeightsInput,
  open: (source: TensorSource, stored: StoredConfig | undefined) => OpenedComponent<Config>,
  construct: (config: Config, weights: WeightMap, owned: boolean) => T | Promise<T>,
  o: { readonly signal?: AbortSignal } = {},
): Promise<T> {
  const m = manifestOf(input);
  const stored = m?.manifest.components[m.component]?.config;
  const { weights, owned } = await resolveWeights(rt, input, (source) => open(source, stored).canonical, o);
  try {
    const described = weights.describe();
    const { canonical, config } = open(described, weights.storedConfig ?? stored);
    requireCanonical(described, canonical);
    return await construct(config, weights, owned);
  } catch (error) {
    if (owned) weights.release();
    throw error;
  }
}

/**
 * A converted model stores canonical names and layouts: its canonical view must be the identity
 * (same names, same shapes), or the bytes on the GPU would not be what the model reads.
 */
export function requireCanonical(stored: TensorSource, view: TensorSource): void {
  for (const [name, info] of view.tensors) {
    const s = stored.tensors.get(name);
    if (!s || s.shape.join(',') !== info.shape.join(',')) {
      throw new CheckpointError(name, `is not stored under its canonical name and layout in ${stored.origin} (convert the checkpoint again)`, JSON.stringify(info.shape), s ? JSON.stringify(s.shape) : 'missing');
    }
  }
}
