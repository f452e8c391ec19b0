import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { bytesSource } from '../../../src/weights/byte-source.js';
import { chooseFormat, convert, type ConvertOptions } from '../../../src/weights/convert.js';
import { encodeF16, toFloat32 } from '../../../src/weights/decode.js';
import { parseManifest, type ComponentName, type ModelManifest } from '../../../src/weights/manifest.js';
import { manifestSource } from '../../../src/weights/manifest-source.js';
import { defaultQuantRule } from '../../../src/weights/quant-rule.js';
import { decodeAs, dequantizeQ4, dequantizeQ8, quantizeQ4, quantizeQ8 } from '../../../src/weights/quantize.js';
import { openSafetensors } from '../../../src/weights/safetensors.js';
import type { TensorSource } from '../../../src/weights/tensor-source.js';
import { encodeSafetensors, f16Tensor, f32Tensor, randomFloats } from './helpers.js';

const QKV = 'joint_blocks.0.x_block.attn.qkv.weight';
const FINAL = 'final_layer.linear.weight';
const BIAS = 'joint_blocks.0.x_block.attn.qkv.bias';
const ADALN = 'joint_blocks.0.x_block.adaLN_modulation.1.weight';

const values = {
  [QKV]: randomFloats(96 * 64, 1, 0.1),
  [FINAL]: randomFloats(16 * 64, 2, 0.1),
  [BIAS]: randomFloats(96, 3),
  [ADALN]: randomFloats(64 * 32, 4, 0.1),
};

async function denoiser(): Promise<TensorSource> {
  return openSafetensors(
    bytesSource(
      encodeSafetensors([
        f32Tensor(QKV, [96, 64], values[QKV]),
        f32Tensor(FINAL, [16, 64], values[FINAL]),
        f32Tensor(BIAS, [96], values[BIAS]),
        f16Tensor(ADALN, [64, 32], values[ADALN]),
      ]),
      'tiny.safetensors',
    ),
  );
}

/** Runs convert into an in-memory folder and reopens the result. */
async function run(overrides: Partial<ConvertOptions> & Pick<ConvertOptions, 'quant'>) {
  const files = new Map<string, Uint8Array>();
  const order: string[] = [];
  const result = await convert({
    model: 'tiny',
    inputs: { mmdit: await denoiser() },
    write: async (file, bytes) => {
      order.push(file);
      files.set(file, bytes.slice());
    },
    ...overrides,
  });
  const text = new TextDecoder().decode(files.get('manifest.json'));
  const manifest = parseManifest(JSON.parse(text), 'manifest.json');
  const open = (component: ComponentName) =>
    manifestSource(manifest, component, async (shard) => bytesSource(files.get(shard.file) ?? new Uint8Array(0), shard.file));
  return { result, files, order, manifest, open };
}

function formats(m: ModelManifest): Record<string, string> {
  return Object.fromEntries(Object.entries(m.components.mmdit?.tensors ?? {}).map(([n, t]) => [n, t.format]));
}

describe('convert', () => {
  it('f16: stores matrices as f16 (f16 input unchanged) and rank-1 tensors as f32, the format kernels bind', async () => {
    const { manifest, open, result } = await run({ quant: 'f16' });
    expect(formats(manifest)).toEqual({ [QKV]: 'f16', [FINAL]: 'f16', [BIAS]: 'f32', [ADALN]: 'f16' });
    const src = open('mmdit');
    expect(await src.read(ADALN)).toEqual(encodeF16(values[ADALN]));
    expect(await src.read(QKV)).toEqual(encodeF16(values[QKV]));
    expect(result.report.find((r) => r.name === ADALN)?.relL2).toBe(0);
    expect(manifest.quantization).toBeUndefined();
    expect(manifest.variant).toBe('f16');
  });

  it('int8: quantises only joint-block Linear weights, exactly as quantizeQ8', async () => {
    const { manifest, open, result } = await run({ quant: 'int8' });
    expect(formats(manifest)).toEqual({ [QKV]: 'q8', [FINAL]: 'f16', [BIAS]: 'f32', [ADALN]: 'f16' });
    const src = open('mmdit');
    const expected = quantizeQ8(values[QKV], 96, 64);
    expect(await src.read(QKV)).toEqual(expected.data);
    expect(await src.readScales?.(QKV)).toEqual(expected.scales);
    const rel = result.report.find((r) => r.name === QKV)?.relL2 ?? 1;
    expect(rel).toBeGreaterThan(0);
    expect(rel).toBeLessThan(0.01);
    expect(manifest.quantization?.scheme).toMatch(/^q8/);
    expect(manifest.quantization?.rule).toMatch(/joint blocks/);
    expect([...dequantizeQ8(expected, 96, 64)]).toEqual([...decodeAs(expected.data, expected.scales, [96, 64], 'q8')]);
  });

  it('int4: quantises with f16 group scales, exactly as quantizeQ4', async () => {
    const { manifest, open, result } = await run({ quant: 'int4' });
    expect(formats(manifest)[QKV]).toBe('q4');
    const expected = quantizeQ4(values[QKV], 96, 64);
    const src = open('mmdit');
    expect(await src.read(QKV)).toEqual(expected.data);
    expect(await src.readScales?.(QKV)).toEqual(expected.scales);
    expect(manifest.components.mmdit?.tensors[QKV]?.scales?.bytes).toBe(96 * 2 * 2);
    expect(result.report.find((r) => r.name === QKV)?.relL2).toBeLessThan(0.15);
    expect([...dequantizeQ4(expected, 96, 64)].length).toBe(96 * 64);
  });

  it('f32: keeps everything f32 (f16 input decoded exactly)', async () => {
    const { manifest, open } = await run({ quant: 'f32' });
    expect(new Set(Object.values(formats(manifest)))).toEqual(new Set(['f32']));
    expect(toFloat32(await open('mmdit').read(ADALN), 'F32')).toEqual(toFloat32(encodeF16(values[ADALN]), 'F16'));
  });

  it('aligns every tensor and scale to 256 bytes and cuts shards at the given size', async () => {
    const { manifest, files, order } = await run({ quant: 'int8', shardBytes: 4096 });
    const c = manifest.components.mmdit;
    if (!c) throw new Error('no mmdit');
    for (const t of Object.values(c.tensors)) {
      expect(t.offset % 256).toBe(0);
      if (t.scales) expect(t.scales.offset % 256).toBe(0);
    }
    expect(c.shards.length).toBeGreaterThan(2);
    expect(c.shards.slice(0, -1).every((s) => s.bytes === 4096)).toBe(true);
    for (const shard of c.shards) {
      expect(createHash('sha256').update(files.get(shard.file) ?? new Uint8Array(0)).digest('hex')).toBe(shard.sha256);
    }
    expect(order[order.length - 1]).toBe('manifest.json');
    expect(order[0]).toBe('mmdit-00000.bin');
  });

  it('reads tensors back across shard boundaries', async () => {
    const { open } = await run({ quant: 'f16', shardBytes: 1024 });
    expect(await open('mmdit').read(QKV)).toEqual(encodeF16(values[QKV]));
  });

  it('stores tensors over partBytes in row parts with their own scales', async () => {
    const { manifest, open } = await run({ quant: 'int8', partBytes: 2048 });
    const qkv = manifest.components.mmdit?.tensors[QKV];
    expect(qkv?.parts?.map((p) => p.rows)).toEqual([32, 32, 32]);
    expect(qkv?.parts?.every((p) => p.offset % 256 === 0 && p.scales?.bytes === 128)).toBe(true);
    const expected = quantizeQ8(values[QKV], 96, 64);
    expect(await open('mmdit').read(QKV)).toEqual(expected.data);
    expect(await open('mmdit').readScales?.(QKV)).toEqual(expected.scales);
  });

  it('writes shards while reading tensors, not after reading everything', async () => {
    const events: string[] = [];
    const base = await denoiser();
    const spy: TensorSource = { ...base, read: (name, signal) => (events.push(`read ${name}`), base.read(name, signal)) };
    await convert({ model: 't', quant: 'f32', inputs: { mmdit: spy }, shardBytes: 4096, write: async (f) => void events.push(`write ${f}`) });
    const firstWrite = events.findIndex((e) => e.startsWith('write'));
    const lastRead = events.map((e) => e.startsWith('read')).lastIndexOf(true);
    expect(firstWrite).toBeLessThan(lastRead);
  });

  it('applies a per-component canonicalisation and a custom rule', async () => {
    const { manifest } = await run({
      quant: 'int8',
      canonicalize: {
        mmdit: (src) => ({ ...src, tensors: new Map([...src.tensors].filter(([n]) => n !== BIAS)) }),
      },
      quantizable: (name) => name === FINAL,
      quantRuleText: 'final layer only',
      configs: { mmdit: { depth: 1 } },
    });
    expect(formats(manifest)).toEqual({ [QKV]: 'f16', [FINAL]: 'q8', [ADALN]: 'f16' });
    expect(manifest.quantization?.rule).toBe('final layer only');
    expect(manifest.components.mmdit?.config).toEqual({ depth: 1 });
  });

  it('re-converts a converted model, passing quantised tensors through', async () => {
    const first = await run({ quant: 'int8' });
    const second = await run({ quant: 'int8', inputs: { mmdit: first.open('mmdit') } });
    expect(await second.open('mmdit').read(QKV)).toEqual(await first.open('mmdit').read(QKV));
    expect(await second.open('mmdit').readScales?.(QKV)).toEqual(await first.open('mmdit').readScales?.(QKV));
  });

  it('rejects an unknown variant and a bad shard size', async () => {
    await expect(run({ quant: 'int3' as 'int8' })).rejects.toThrow(InvalidArgumentError);
    await expect(run({ quant: 'f16', shardBytes: 1000 })).rejects.toThrow(/shardBytes/);
  });

  it('aborts between tensors', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    await expect(run({ quant: 'f16', signal: controller.signal })).rejects.toThrow('cancelled');
  });
});

describe('chooseFormat', () => {
  const info = (name: string, shape: number[], dtype: 'F32' | 'F16' | 'BF16' = 'F32') => ({ name, shape, dtype, byteLength: 0 });

  it('keeps odd-K tensors in f32 and BF16 as bf16', () => {
    expect(chooseFormat(info('vae.conv_in.weight', [128, 3, 3, 3]), 'vae', 'f16', defaultQuantRule)).toBe('f32');
    expect(chooseFormat(info('b', [3]), 'vae', 'f16', defaultQuantRule)).toBe('f32');
    expect(chooseFormat(info('w', [4, 4], 'BF16'), 'vae', 'f16', defaultQuantRule)).toBe('bf16');
    expect(chooseFormat(info(QKV, [96, 64], 'BF16'), 'mmdit', 'int4', defaultQuantRule)).toBe('q4');
  });

  it('falls back to f16 when K does not fit the quantised format', () => {
    expect(chooseFormat(info(QKV, [96, 48]), 'mmdit', 'int4', defaultQuantRule)).toBe('f16');
    expect(chooseFormat(info(QKV, [96, 48]), 'mmdit', 'int8', defaultQuantRule)).toBe('q8');
  });
});

describe('f16 range', () => {
  it('keeps a tensor with values beyond 65504 in f32', async () => {
    const big = new Float32Array([1, 70000, -3, 4]);
    const files = new Map<string, Uint8Array>();
    const result = await convert({
      model: 't',
      quant: 'f16',
      inputs: { vae: await openSafetensors(bytesSource(encodeSafetensors([f32Tensor('w', [2, 2], big)]))) },
      write: async (f, b) => void files.set(f, b.slice()),
    });
    expect(result.manifest.components.vae?.tensors['w']?.format).toBe('f32');
  });
});
