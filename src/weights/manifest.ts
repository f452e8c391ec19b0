import { ManifestError } from '../errors.js';
import { BINDING_ALIGNMENT, type StorageFormat } from '../tensor/tensor.js';
import { fitsFormat, matrixDims, Q4_GROUP } from './quantize.js';

/**
 * The converted-model manifest (`mmdit-webgpu.weights/1`) and the model catalogue
 * (`mmdit-webgpu.catalogue/1`), documented in docs/weights-manifest.md. Parsing validates every
 * field and every offset before anything is fetched, so a bad manifest fails with the JSON path of
 * the offending field instead of as a corrupt tensor halfway through a download.
 */

export const MANIFEST_FORMAT = 'mmdit-webgpu.weights/1';
export const CATALOGUE_FORMAT = 'mmdit-webgpu.catalogue/1';

export const COMPONENTS = ['mmdit', 'clip_l', 'clip_g', 't5', 'vae'] as const;
export type ComponentName = (typeof COMPONENTS)[number];
export const VARIANTS = ['f32', 'f16', 'int8', 'int4'] as const;
export type WeightsVariant = (typeof VARIANTS)[number];
const FORMATS: readonly StorageFormat[] = ['f32', 'f16', 'bf16', 'q8', 'q4'];

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export interface ShardEntry {
  /** Path relative to the manifest (no `..`, not absolute). */
  readonly file: string;
  readonly bytes: number;
  /** Lower-case hex SHA-256 of the shard's bytes; also its cache key. */
  readonly sha256: string;
}

/** A byte range in the component's stream. */
export interface StreamRange {
  readonly offset: number;
  readonly bytes: number;
}

/** A run of rows of a partitioned tensor, bound on its own (see `TensorEntry.parts`). */
export interface TensorPart extends StreamRange {
  readonly rows: number;
  readonly scales?: StreamRange;
}

export interface TensorEntry extends StreamRange {
  readonly shape: readonly number[];
  readonly format: StorageFormat;
  /** q8: f32 per output row; q4: f16 per group of 32 along K. Required exactly for q8/q4. */
  readonly scales?: StreamRange;
  /**
   * Tensors larger than one binding (128 MiB) are cut into row runs, each 256-byte aligned with its
   * own scales; then `offset` is the first part's and `bytes` the sum over parts.
   */
  readonly parts?: readonly TensorPart[];
}

export interface ComponentManifest {
  /** The model configuration of this component, as its `models/<x>/config.ts` derives it. */
  readonly config: { readonly [key: string]: JsonValue };
  readonly shards: readonly ShardEntry[];
  readonly tensors: { readonly [name: string]: TensorEntry };
}

export interface QuantizationRecord {
  /** The scheme, e.g. "q8: per output row, f32 scale max|w|/127, round half even". */
  readonly scheme: string;
  /** Which tensors were quantised, in words (the converter's rule). */
  readonly rule: string;
}

export interface ModelManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly model: string;
  /** Architecture family, e.g. "sd3", "sd3.5-large", "sd3.5-medium". */
  readonly kind?: string;
  readonly variant: WeightsVariant;
  readonly license?: string;
  /** Tokenizer name → role → file relative to the manifest (e.g. clip_l.vocab → "tokenizers/clip_l/vocab.json"). */
  readonly tokenizers: { readonly [name: string]: { readonly [role: string]: string } };
  readonly quantization?: QuantizationRecord;
  /** What `generate` uses when the caller does not say (SD3: 1024², 28 steps, guidance 7, shift 3). */
  readonly defaults?: ModelDefaults;
  /** Latent → RGB factors for step previews, fitted to this model's VAE. */
  readonly preview?: PreviewFactors;
  /** Which text encoders the model has, and T5's rows when it has none or it is turned off. */
  readonly textEncoders?: TextEncoderRecord;
  readonly components: { readonly [C in ComponentName]?: ComponentManifest };
}

export interface ModelDefaults {
  readonly width?: number;
  readonly height?: number;
  readonly steps?: number;
  readonly guidanceScale?: number;
  readonly shift?: number;
}

export interface PreviewFactors {
  /** One row per latent channel: its (R, G, B) weights. */
  readonly factors: readonly (readonly [number, number, number])[];
  readonly bias: readonly [number, number, number];
}

export interface TextEncoderRecord {
  /** `"t5"` when the model has T5, `null` when it has none (its context rows are zeros). */
  readonly t5?: 't5' | null;
  /** Context rows in T5's place when T5 is absent or turned off (77 in SD3). */
  readonly t5Rows?: number;
}

export interface CatalogueEntry {
  /** Manifest of the default variant: a URL or a path relative to the catalogue. */
  readonly manifest: string;
  /** Variant → manifest URL or path. */
  readonly variants?: { readonly [V in WeightsVariant]?: string };
  readonly license?: string;
  readonly description?: string;
}

export interface Catalogue {
  readonly format: typeof CATALOGUE_FORMAT;
  readonly default?: string;
  readonly models: { readonly [id: string]: CatalogueEntry };
}

/** Element bytes of a stored tensor (exact, unpadded). */
export function elementBytes(shape: readonly number[], format: StorageFormat): number {
  const n = shape.reduce((a, b) => a * b, 1);
  return format === 'f32' ? n * 4 : format === 'q8' ? n : format === 'q4' ? Math.ceil(n / 2) : n * 2;
}

/** Scale bytes of a quantised tensor of this shape (0 for the float formats). */
export function scaleBytes(shape: readonly number[], format: StorageFormat): number {
  const [rows, cols] = matrixDims(shape);
  return format === 'q8' ? rows * 4 : format === 'q4' ? rows * (cols / Q4_GROUP) * 2 : 0;
}

/** Sum of a component's shard sizes: the length of its logical byte stream. */
export function streamLength(component: ComponentManifest): number {
  return component.shards.reduce((a, s) => a + s.bytes, 0);
}

export function parseManifest(json: unknown, file: string): ModelManifest {
  const v = new Validator(file);
  const root = v.object(json, '');
  v.literal(root['format'], 'format', MANIFEST_FORMAT);
  v.string(root['model'], 'model');
  if (root['kind'] !== undefined) v.string(root['kind'], 'kind');
  if (root['license'] !== undefined) v.string(root['license'], 'license');
  v.oneOf(root['variant'], 'variant', VARIANTS);
  const tokenizers = root['tokenizers'] === undefined ? {} : v.object(root['tokenizers'], 'tokenizers');
  for (const [name, roles] of Object.entries(tokenizers)) {
    for (const [role, path] of Object.entries(v.object(roles, `tokenizers${key(name)}`))) v.relativePath(path, `tokenizers${key(name)}${key(role)}`);
  }
  if (root['quantization'] !== undefined) {
    const q = v.object(root['quantization'], 'quantization');
    v.string(q['scheme'], 'quantization.scheme');
    v.string(q['rule'], 'quantization.rule');
  }
  if (root['defaults'] !== undefined) validateDefaults(v, root['defaults']);
  if (root['preview'] !== undefined) validatePreview(v, root['preview']);
  const components = v.object(root['components'], 'components');
  if (root['textEncoders'] !== undefined) {
    const t = v.object(root['textEncoders'], 'textEncoders');
    if (t['t5'] !== undefined && t['t5'] !== null && t['t5'] !== 't5') v.fail('textEncoders.t5', `must be "t5" or null, got ${kind(t['t5'])}`);
    if (t['t5'] === 't5' && components['t5'] === undefined) v.fail('textEncoders.t5', 'names T5 but the manifest has no t5 component');
    if (t['t5Rows'] !== undefined) v.integer(t['t5Rows'], 'textEncoders.t5Rows', 1);
  }
  for (const [name, component] of Object.entries(components)) {
    const at = `components${key(name)}`;
    if (!(COMPONENTS as readonly string[]).includes(name)) v.fail(at, `unknown component; allowed: ${COMPONENTS.join(', ')}`);
    validateComponent(v, component, at);
  }
  return json as ModelManifest;
}

function validateDefaults(v: Validator, json: unknown): void {
  const d = v.object(json, 'defaults');
  for (const name of ['width', 'height', 'steps'] as const) if (d[name] !== undefined) v.integer(d[name], `defaults.${name}`, 1);
  for (const name of ['guidanceScale', 'shift'] as const) {
    const x = d[name];
    if (x !== undefined && (typeof x !== 'number' || !Number.isFinite(x) || x < 0)) v.fail(`defaults.${name}`, `must be a finite number >= 0, got ${kind(x)}`);
  }
}

function validatePreview(v: Validator, json: unknown): void {
  const p = v.object(json, 'preview');
  const triple = (x: unknown, path: string): void => {
    const a = v.array(x, path);
    if (a.length !== 3 || a.some((n) => typeof n !== 'number' || !Number.isFinite(n))) v.fail(path, `must be 3 finite numbers (R, G, B), got ${kind(x)}`);
  };
  const rows = v.array(p['factors'], 'preview.factors');
  if (rows.length === 0) v.fail('preview.factors', 'must have one row per latent channel');
  rows.forEach((row, i) => triple(row, `preview.factors[${i}]`));
  triple(p['bias'], 'preview.bias');
}

function validateComponent(v: Validator, json: unknown, at: string): void {
  const c = v.object(json, at);
  v.object(c['config'], `${at}.config`);
  let total = 0;
  const shards = v.array(c['shards'], `${at}.shards`);
  shards.forEach((shard, i) => {
    const s = v.object(shard, `${at}.shards[${i}]`);
    v.relativePath(s['file'], `${at}.shards[${i}].file`);
    const bytes = v.integer(s['bytes'], `${at}.shards[${i}].bytes`, 1);
    // Pieces of a tensor split at shard boundaries must stay 4-byte aligned for writeBuffer.
    if (i < shards.length - 1 && bytes % BINDING_ALIGNMENT !== 0) v.fail(`${at}.shards[${i}].bytes`, `must be a multiple of ${BINDING_ALIGNMENT} (all shards but the last), got ${bytes}`);
    total += bytes;
    if (typeof s['sha256'] !== 'string' || !/^[0-9a-f]{64}$/.test(s['sha256'])) v.fail(`${at}.shards[${i}].sha256`, 'must be 64 lower-case hex digits');
  });
  const ranges: [number, number, string][] = [];
  const range = (json: unknown, path: string, bytes: number): StreamRange => {
    const r = v.object(json, path);
    const offset = v.integer(r['offset'], `${path}.offset`, 0);
    if (offset % BINDING_ALIGNMENT !== 0) v.fail(`${path}.offset`, `must be a multiple of ${BINDING_ALIGNMENT} (binding alignment), got ${offset}`);
    if (v.integer(r['bytes'], `${path}.bytes`, 0) !== bytes) v.fail(`${path}.bytes`, `must be ${bytes} for this shape and format, got ${String(r['bytes'])}`);
    if (offset + bytes > total) v.fail(`${path}.offset`, `range ${offset}..${offset + bytes} is past the end of the component stream (${total} bytes in its shards)`);
    ranges.push([offset, offset + bytes, path]);
    return { offset, bytes };
  };
  for (const [name, entry] of Object.entries(v.object(c['tensors'], `${at}.tensors`))) {
    const path = `${at}.tensors${key(name)}`;
    const t = v.object(entry, path);
    const shape = v.array(t['shape'], `${path}.shape`).map((d, i) => v.integer(d, `${path}.shape[${i}]`, 0));
    const format = v.oneOf(t['format'], `${path}.format`, FORMATS);
    if (!fitsFormat(shape, format)) v.fail(`${path}.format`, `${format} does not fit shape ${JSON.stringify(shape)} (f16 needs K % 2, q8 K % 4, q4 K % 32)`);
    const quantised = format === 'q8' || format === 'q4';
    if (t['parts'] !== undefined) {
      validateParts(v, t, path, shape, format, range);
      continue;
    }
    range(t, path, elementBytes(shape, format));
    if (quantised) range(t['scales'], `${path}.scales`, scaleBytes(shape, format));
    else if (t['scales'] !== undefined) v.fail(`${path}.scales`, `only q8 and q4 tensors have scales, this one is ${format}`);
  }
  // Two tensors sharing bytes would make one overwrite the other on upload.
  ranges.sort((a, b) => a[0] - b[0]);
  let reach: [number, string] = [0, ''];
  for (const [start, end, path] of ranges) {
    if (start < reach[0] && end > start) v.fail(`${path}.offset`, `overlaps ${reach[1]}`);
    if (end > reach[0]) reach = [end, path];
  }
}

function validateParts(
  v: Validator,
  t: Record<string, unknown>,
  path: string,
  shape: number[],
  format: StorageFormat,
  range: (json: unknown, path: string, bytes: number) => StreamRange,
): void {
  const [rows, cols] = matrixDims(shape);
  let rowSum = 0;
  let byteSum = 0;
  const parts = v.array(t['parts'], `${path}.parts`);
  parts.forEach((part, i) => {
    const p = v.object(part, `${path}.parts[${i}]`);
    const n = v.integer(p['rows'], `${path}.parts[${i}].rows`, 1);
    const bytes = range(p, `${path}.parts[${i}]`, elementBytes([n, cols], format)).bytes;
    if (format === 'q8' || format === 'q4') range(p['scales'], `${path}.parts[${i}].scales`, scaleBytes([n, cols], format));
    if (i === 0 && t['offset'] !== p['offset']) v.fail(`${path}.offset`, 'must equal parts[0].offset');
    rowSum += n;
    byteSum += bytes;
  });
  if (rowSum !== rows) v.fail(`${path}.parts`, `rows add up to ${rowSum}, the shape has ${rows}`);
  if (t['bytes'] !== byteSum) v.fail(`${path}.bytes`, `must be the parts' total ${byteSum}`);
  if (t['scales'] !== undefined) v.fail(`${path}.scales`, 'a partitioned tensor keeps its scales in its parts');
}

export function parseCatalogue(json: unknown, file: string): Catalogue {
  const v = new Validator(file);
  const root = v.object(json, '');
  v.literal(root['format'], 'format', CATALOGUE_FORMAT);
  const models = v.object(root['models'], 'models');
  for (const [id, entry] of Object.entries(models)) {
    const at = `models${key(id)}`;
    const e = v.object(entry, at);
    v.string(e['manifest'], `${at}.manifest`);
    if (e['license'] !== undefined) v.string(e['license'], `${at}.license`);
    if (e['description'] !== undefined) v.string(e['description'], `${at}.description`);
    if (e['variants'] !== undefined) {
      for (const [variant, ref] of Object.entries(v.object(e['variants'], `${at}.variants`))) {
        v.oneOf(variant, `${at}.variants${key(variant)}`, VARIANTS);
        v.string(ref, `${at}.variants${key(variant)}`);
      }
    }
  }
  if (root['default'] !== undefined && !(v.string(root['default'], 'default') in models)) {
    v.fail('default', `names no model of the catalogue (models: ${Object.keys(models).join(', ') || 'none'})`);
  }
  return json as Catalogue;
}

/** The manifest reference for a model and variant, resolved against the catalogue's location. */
export function catalogueManifest(catalogue: Catalogue, base: string, model?: string, variant?: WeightsVariant): string {
  const id = model ?? catalogue.default;
  const entry = id === undefined ? undefined : catalogue.models[id];
  if (id === undefined || !entry) throw new ManifestError(id === undefined ? 'default' : `models${key(id)}`, `no such model in ${base} (has: ${Object.keys(catalogue.models).join(', ') || 'none'})`);
  const ref = variant === undefined ? entry.manifest : entry.variants?.[variant];
  if (ref === undefined) throw new ManifestError(`models${key(id)}.variants`, `model ${id} has no ${variant} variant in ${base}`);
  return resolveRelative(base, ref);
}

/** Resolves `ref` against the location of the file `base` (a URL or a path with `/` separators). */
export function resolveRelative(base: string, ref: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) return ref;
  if (/^[a-z][a-z0-9+.-]*:/i.test(base)) return new URL(ref, base).href;
  if (ref.startsWith('/')) return ref;
  const dir = base.includes('/') ? base.slice(0, base.lastIndexOf('/') + 1) : '';
  const out: string[] = [];
  for (const part of (dir + ref).split('/')) {
    if (part === '..' && out.length > 0 && out[out.length - 1] !== '..' && out[out.length - 1] !== '') out.pop();
    else if (part !== '.') out.push(part);
  }
  return out.join('/');
}

/** `.name` for identifiers, `["name"]` otherwise (tensor names have dots). */
function key(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

class Validator {
  constructor(private readonly file: string) {}

  fail(path: string, reason: string): never {
    throw new ManifestError(path.replace(/^\./, '') || '(root)', `${reason} (in ${this.file})`);
  }

  object(value: unknown, path: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path, `must be an object, got ${kind(value)}`);
    return value as Record<string, unknown>;
  }

  array(value: unknown, path: string): unknown[] {
    if (!Array.isArray(value)) this.fail(path, `must be an array, got ${kind(value)}`);
    return value;
  }

  string(value: unknown, path: string): string {
    if (typeof value !== 'string' || value === '') this.fail(path, `must be a non-empty string, got ${kind(value)}`);
    return value;
  }

  integer(value: unknown, path: string, min: number): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) this.fail(path, `must be an integer >= ${min}, got ${kind(value)}`);
    return value;
  }

  literal(value: unknown, path: string, expected: string): void {
    if (value !== expected) this.fail(path, `must be "${expected}", got ${kind(value)}`);
  }

  oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
    if (!(allowed as readonly unknown[]).includes(value)) this.fail(path, `must be one of ${allowed.join(', ')}, got ${kind(value)}`);
    return value as T;
  }

  relativePath(value: unknown, path: string): string {
    const s = this.string(value, path);
    if (s.startsWith('/') || s.includes('\\') || /^[a-z][a-z0-9+.-]*:/i.test(s) || s.split('/').includes('..')) {
      this.fail(path, `must be a path relative to the manifest without "..", got ${JSON.stringify(s)}`);
    }
    return s;
  }
}

function kind(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? text.slice(0, 57) + '...' : text;
}
