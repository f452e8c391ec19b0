import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesSource } from '../../../src/weights/byte-source.js';
import {
  catalogueManifest,
  COMPONENTS,
  parseCatalogue,
  parseManifest,
  VARIANTS,
  type WeightsVariant,
} from '../../../src/weights/manifest.js';
import { manifestSource } from '../../../src/weights/manifest-source.js';
import { fuzzParser } from './harness.js';
import { applyJson, jsonMutations } from './mutate.js';

const SHA = 'a'.repeat(64);

/** Two shards of 512 and 2000 bytes: "e.weight" spans them, "d.weight" is q4 in two parts. */
const MANIFEST = {
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
        { file: 'mmdit-00001.bin', bytes: 2000, sha256: SHA },
      ],
      tensors: {
        'a.bias': { offset: 0, bytes: 8, shape: [4], format: 'f16' },
        'e.weight': { offset: 256, bytes: 512, shape: [4, 32], format: 'f32' },
        'b.weight': { offset: 768, bytes: 32, shape: [4, 8], format: 'q8', scales: { offset: 1024, bytes: 16 } },
        'c.weight': { offset: 1280, bytes: 32, shape: [2, 4], format: 'f32' },
        'd.weight': {
          offset: 1536,
          bytes: 32,
          shape: [2, 32],
          format: 'q4',
          parts: [
            { rows: 1, offset: 1536, bytes: 16, scales: { offset: 1792, bytes: 2 } },
            { rows: 1, offset: 2048, bytes: 16, scales: { offset: 2304, bytes: 2 } },
          ],
        },
      },
    },
  },
};

const CATALOGUE = {
  format: 'mmdit-webgpu.catalogue/1',
  default: 'tiny',
  models: {
    tiny: { manifest: 'tiny/f16/manifest.json', variants: { f16: 'tiny/f16/manifest.json', int8: 'https://cdn.example/tiny/int8/manifest.json' }, license: 'MIT' },
    other: { manifest: 'other/manifest.json', description: 'x' },
  },
};

/**
 * Validates, then reads every tensor (and its scales) of every component through shards that
 * hold at most 4 KiB whatever the manifest claims: a file smaller than its manifest says.
 */
async function parse(json: unknown): Promise<void> {
  const manifest = parseManifest(json, 'fuzz/manifest.json');
  for (const c of COMPONENTS) {
    const component = manifest.components[c];
    if (!component) continue;
    const source = manifestSource(manifest, c, async (shard) => bytesSource(new Uint8Array(Math.min(shard.bytes, 4096)), shard.file));
    for (const [name, t] of Object.entries(component.tensors)) {
      await source.read(name);
      if (t.format === 'q8' || t.format === 'q4') await source.readScales?.(name);
    }
  }
}

describe('fuzz: manifest and catalogue parsers', () => {
  it('the unmutated manifest and catalogue parse', async () => {
    await parse(MANIFEST);
    expect(catalogueManifest(parseCatalogue(CATALOGUE, 'models/catalogue.json'), 'models/catalogue.json')).toBe('models/tiny/f16/manifest.json');
  });

  it('manifest JSON mutations: parse or MmditError, no hang', async () => {
    const stats = await fuzzParser('manifest (JSON)', 1701, jsonMutations, (m) => parse(applyJson(MANIFEST, m)));
    expect(stats.cases).toBeGreaterThan(0);
  });

  it('catalogue JSON mutations: parse or MmditError, no hang', async () => {
    const query = fc.tuple(fc.option(fc.constantFrom('tiny', 'other', 'none', '__proto__', 'constructor')), fc.option(fc.constantFrom<WeightsVariant>(...VARIANTS)));
    const stats = await fuzzParser('catalogue (JSON)', 1702, fc.tuple(jsonMutations, query), ([m, [model, variant]]) => {
      const catalogue = parseCatalogue(applyJson(CATALOGUE, m), 'models/catalogue.json');
      catalogueManifest(catalogue, 'https://host/models/catalogue.json', model ?? undefined, variant ?? undefined);
    });
    expect(stats.cases).toBeGreaterThan(0);
  });
});

describe('manifest: inputs the fuzzer aims at', () => {
  it('a tensor of terabytes across two shards fails typed when the shards are smaller than claimed', async () => {
    const TB = 2 ** 40;
    const huge = {
      ...MANIFEST,
      components: {
        mmdit: {
          config: {},
          shards: [
            { file: 'a.bin', bytes: TB, sha256: SHA },
            { file: 'b.bin', bytes: TB, sha256: SHA },
          ],
          tensors: { big: { offset: TB - 256, bytes: 2 ** 39, shape: [2 ** 37], format: 'f32' } },
        },
      },
    };
    await expect(parse(huge)).rejects.toThrow(/truncated: bytes/);
  });
});
