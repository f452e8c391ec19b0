import { describe, expect, it } from 'vitest';
import { CheckpointError, ManifestError } from '../../../src/errors.js';
import { bytesSource } from '../../../src/weights/byte-source.js';
import {
  catalogueManifest,
  parseCatalogue,
  parseManifest,
  resolveRelative,
} from '../../../src/weights/manifest.js';
import { manifestSource, rangePieces } from '../../../src/weights/manifest-source.js';

const SHA = 'a'.repeat(64);

/** Two shards of 512 and 300 bytes; tensor "b.weight" spans them. */
function valid(): Record<string, unknown> {
  return {
    format: 'mmdit-webgpu.weights/1',
    model: 'tiny',
    kind: 'sd3',
    variant: 'int8',
    tokenizers: { clip_l: { vocab: 'tokenizers/clip_l/vocab.json', merges: 'tokenizers/clip_l/merges.txt' } },
    quantization: { scheme: 'q8 per row', rule: 'joint-block Linear weights' },
    components: {
      mmdit: {
        config: { depth: 1 },
        shards: [
          { file: 'mmdit-00000.bin', bytes: 512, sha256: SHA },
          { file: 'mmdit-00001.bin', bytes: 300, sha256: SHA },
        ],
        tensors: {
          'a.bias': { offset: 0, bytes: 8, shape: [4], format: 'f16' },
          'b.weight': { offset: 256, bytes: 32, shape: [4, 8], format: 'q8', scales: { offset: 512, bytes: 16 } },
          'c.weight': { offset: 768, bytes: 32, shape: [2, 4], format: 'f32' },
        },
      },
    },
  };
}

const DELETE = Symbol('delete');

/** Sets (or deletes) the value at `path` inside a JSON-like object. */
function set(root: unknown, path: readonly (string | number)[], value: unknown): void {
  let node = root as Record<string | number, unknown>;
  for (const step of path.slice(0, -1)) node = node[step] as Record<string | number, unknown>;
  const last = path[path.length - 1] ?? '';
  if (value === DELETE) delete node[last];
  else node[last] = value;
}

function mutated(...edits: [readonly (string | number)[], unknown][]): Record<string, unknown> {
  const m = valid();
  for (const [path, value] of edits) set(m, path, value);
  return m;
}

const T = ['components', 'mmdit', 'tensors'] as const;
const S = ['components', 'mmdit', 'shards'] as const;

function failure(...edits: [readonly (string | number)[], unknown][]): ManifestError {
  const m = mutated(...edits);
  try {
    parseManifest(m, 'models/tiny/manifest.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return error as ManifestError;
  }
  throw new Error('expected a ManifestError');
}

describe('parseManifest', () => {
  it('accepts a valid manifest', () => {
    const m = parseManifest(valid(), 'm.json');
    expect(m.components.mmdit?.tensors['b.weight']?.format).toBe('q8');
  });

  it('names the JSON path of a bad field and the file', () => {
    const e = failure([[...T, 'b.weight', 'offset'], 100]);
    expect(e.path).toBe('components.mmdit.tensors["b.weight"].offset');
    expect(e.message).toMatch(/multiple of 256.*models\/tiny\/manifest\.json/);
  });

  it('rejects a wrong format string and a bad variant', () => {
    expect(failure([['format'], 'mmdit-webgpu.weights/2']).path).toBe('format');
    expect(failure([['variant'], 'int3']).path).toBe('variant');
    expect(failure([['model'], DELETE]).path).toBe('model');
  });

  it('rejects offsets past the end of the component stream', () => {
    const e = failure([[...T, 'c.weight', 'offset'], 1024]);
    expect(e.path).toBe('components.mmdit.tensors["c.weight"].offset');
    expect(e.message).toMatch(/past the end of the component stream \(812 bytes/);
  });

  it('rejects byte counts that disagree with shape and format', () => {
    expect(failure([[...T, 'a.bias', 'bytes'], 16]).path).toBe('components.mmdit.tensors["a.bias"].bytes');
    expect(failure([[...T, 'b.weight', 'scales', 'bytes'], 4]).path).toBe('components.mmdit.tensors["b.weight"].scales.bytes');
  });

  it('requires scales exactly for quantised tensors', () => {
    expect(failure([[...T, 'b.weight', 'scales'], DELETE]).path).toBe('components.mmdit.tensors["b.weight"].scales');
    expect(failure([[...T, 'a.bias', 'scales'], { offset: 0, bytes: 0 }]).path).toBe('components.mmdit.tensors["a.bias"].scales');
  });

  it('rejects formats that do not fit the shape', () => {
    const e = failure([[...T, 'c.weight'], { offset: 768, bytes: 8, shape: [2, 4], format: 'q4', scales: { offset: 0, bytes: 4 } }]);
    expect(e.path).toBe('components.mmdit.tensors["c.weight"].format');
  });

  it('rejects bad shard hashes, sizes and paths', () => {
    expect(failure([[...S, 1, 'sha256'], 'A'.repeat(64)]).path).toBe('components.mmdit.shards[1].sha256');
    expect(failure([[...S, 0, 'bytes'], 0]).path).toBe('components.mmdit.shards[0].bytes');
    expect(failure([[...S, 0, 'file'], '../secret.bin']).path).toBe('components.mmdit.shards[0].file');
    expect(failure([[...S, 0, 'file'], 'https://elsewhere/x.bin']).path).toBe('components.mmdit.shards[0].file');
  });

  it('rejects overlapping tensors and unknown components', () => {
    expect(failure([[...T, 'c.weight', 'offset'], 512]).message).toMatch(/overlaps/);
    expect(failure([['components', 'unet'], valid()['components']]).path).toBe('components.unet');
  });

  it('rejects tokenizer paths that leave the model folder', () => {
    expect(failure([['tokenizers', 'clip_l', 'vocab'], '/etc/vocab.json']).path).toBe('tokenizers.clip_l.vocab');
  });

  it('accepts the model defaults, preview factors and text-encoder record', () => {
    const m = parseManifest(mutated(
      [['defaults'], { width: 64, height: 64, steps: 20, guidanceScale: 4.5, shift: 3 }],
      [['preview'], { factors: [[0.1, 0.2, 0.3], [0, 0, 1]], bias: [0, 0.5, 0] }],
      [['textEncoders'], { t5: null, t5Rows: 77 }],
    ), 'm.json');
    expect(m.defaults?.steps).toBe(20);
    expect(m.textEncoders?.t5).toBeNull();
  });

  it('rejects bad defaults, preview factors and text-encoder records by path', () => {
    expect(failure([['defaults'], { width: 64.5 }]).path).toBe('defaults.width');
    expect(failure([['defaults'], { guidanceScale: -1 }]).path).toBe('defaults.guidanceScale');
    expect(failure([['preview'], { factors: [[1, 2]], bias: [0, 0, 0] }]).path).toBe('preview.factors[0]');
    expect(failure([['preview'], { factors: [[1, 2, 3]] }]).path).toBe('preview.bias');
    expect(failure([['textEncoders'], { t5: 't5' }]).path).toBe('textEncoders.t5');
    expect(failure([['textEncoders'], { t5: null, t5Rows: 0 }]).path).toBe('textEncoders.t5Rows');
  });

  it('validates partitioned tensors', () => {
    const parted = (rows: number[]): [readonly (string | number)[], unknown][] => [
      [T, { 'c.weight': { offset: 0, bytes: 32, shape: [2, 4], format: 'f32', parts: rows.map((r, i) => ({ rows: r, offset: i * 256, bytes: r * 16 })) } }],
    ];
    expect(() => parseManifest(mutated(...parted([1, 1])), 'm.json')).not.toThrow();
    expect(failure(...parted([1, 2])).path).toBe('components.mmdit.tensors["c.weight"].parts');
  });
});

describe('parseCatalogue', () => {
  it('accepts the empty catalogue', () => {
    expect(parseCatalogue({ format: 'mmdit-webgpu.catalogue/1', models: {} }, 'weights-manifest.json').models).toEqual({});
  });

  it('rejects a default that names no model', () => {
    expect(() => parseCatalogue({ format: 'mmdit-webgpu.catalogue/1', default: 'x', models: {} }, 'c.json')).toThrow(/default/);
  });

  it('resolves manifests of models and variants relative to the catalogue', () => {
    const c = parseCatalogue(
      {
        format: 'mmdit-webgpu.catalogue/1',
        default: 'tiny',
        models: { tiny: { manifest: 'models/tiny/f16/manifest.json', variants: { int8: 'models/tiny/int8/manifest.json' }, license: 'MIT' } },
      },
      'c.json',
    );
    expect(catalogueManifest(c, 'https://host/app/weights-manifest.json')).toBe('https://host/app/models/tiny/f16/manifest.json');
    expect(catalogueManifest(c, 'dist/weights-manifest.json', 'tiny', 'int8')).toBe('dist/models/tiny/int8/manifest.json');
    expect(() => catalogueManifest(c, 'c.json', 'tiny', 'int4')).toThrow(ManifestError);
    expect(() => catalogueManifest(c, 'c.json', 'big')).toThrow(/no such model/);
  });

  it('rejects unknown variants', () => {
    expect(() => parseCatalogue({ format: 'mmdit-webgpu.catalogue/1', models: { a: { manifest: 'm.json', variants: { int2: 'x' } } } }, 'c.json')).toThrow(ManifestError);
  });
});

describe('resolveRelative', () => {
  it('resolves against URLs and paths', () => {
    expect(resolveRelative('https://h/a/b/manifest.json', 'shard-0.bin')).toBe('https://h/a/b/shard-0.bin');
    expect(resolveRelative('/srv/m/manifest.json', 'shards/0.bin')).toBe('/srv/m/shards/0.bin');
    expect(resolveRelative('manifest.json', 'x.bin')).toBe('x.bin');
    expect(resolveRelative('a/b/catalogue.json', '../c/m.json')).toBe('a/c/m.json');
    expect(resolveRelative('a/b.json', 'https://cdn/x.json')).toBe('https://cdn/x.json');
  });
});

describe('manifestSource', () => {
  const stream = Uint8Array.from({ length: 812 }, (_, i) => i & 0xff);
  const shards = [stream.subarray(0, 512), stream.subarray(512)];
  const open = () => {
    const m = parseManifest(valid(), 'm.json');
    return manifestSource(m, 'mmdit', async (shard, i) => bytesSource(shards[i] ?? new Uint8Array(0), shard.file));
  };

  it('lists tensors with their stored dtype', () => {
    const src = open();
    expect(src.tensors.get('b.weight')).toMatchObject({ dtype: 'Q8', shape: [4, 8], byteLength: 32 });
    expect(src.tensors.get('a.bias')).toMatchObject({ dtype: 'F16', byteLength: 8 });
  });

  it('reads tensors and scales by stream offset, across shards', async () => {
    const src = open();
    expect(await src.read('c.weight')).toEqual(stream.subarray(768, 800));
    expect(await src.readScales?.('b.weight')).toEqual(stream.subarray(512, 528));
  });

  it('reads a tensor that spans two shards', async () => {
    const m = parseManifest(mutated([T, { span: { offset: 256, bytes: 512, shape: [8, 16], format: 'f32' } }]), 'm.json');
    const src = manifestSource(m, 'mmdit', async (shard, i) => bytesSource(shards[i] ?? new Uint8Array(0), shard.file));
    expect(await src.read('span')).toEqual(stream.subarray(256, 768));
  });

  it('rejects unknown tensors and scales of float tensors', async () => {
    const src = open();
    await expect(src.read('zzz')).rejects.toThrow(CheckpointError);
    await expect(src.readScales?.('a.bias')).rejects.toThrow(/no scales/);
  });
});

describe('rangePieces', () => {
  it('splits a stream range at shard boundaries', () => {
    const component = parseManifest(valid(), 'm.json').components.mmdit;
    if (!component) throw new Error('no mmdit');
    expect(rangePieces(component, 500, 20)).toEqual([
      { shard: 0, shardOffset: 500, rangeOffset: 0, bytes: 12 },
      { shard: 1, shardOffset: 0, rangeOffset: 12, bytes: 8 },
    ]);
  });
});
