import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileDirectoryReader, fileSource, readTextFile } from '../../../src/node/file-source.js';
import { convert, type TensorReport } from '../../../src/weights/convert.js';
import { toFloat32 } from '../../../src/weights/decode.js';
import { parseManifest, type WeightsVariant } from '../../../src/weights/manifest.js';
import { manifestSource } from '../../../src/weights/manifest-source.js';
import { openOnnx } from '../../../src/weights/onnx.js';
import { defaultQuantRule } from '../../../src/weights/quant-rule.js';
import { decodeAs, relativeL2 } from '../../../src/weights/quantize.js';
import { openDiffusersShards, openSafetensors } from '../../../src/weights/safetensors.js';
import type { TensorSource } from '../../../src/weights/tensor-source.js';
import { VECTORS_DIR } from '../../unit/weights/helpers.js';

/**
 * The public reference checkpoints converted to every variant on disk, reopened from the written
 * manifest and shards, and compared tensor by tensor with the checkpoint. Per-tensor relative L2
 * bounds: f16 rounding is ≤ 2^-11 relative; q8 and q4 errors are a fraction of their step.
 */
const PER_TENSOR_LIMIT: Readonly<Record<WeightsVariant, number>> = { f32: 0, f16: 5e-4, int8: 0.01, int4: 0.15 };

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mmdit-convert-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function convertTo(name: string, input: TensorSource, quant: WeightsVariant) {
  const out = path.join(dir, `${name}-${quant}`);
  await mkdir(out, { recursive: true });
  const result = await convert({
    model: name,
    quant,
    inputs: { mmdit: input },
    shardBytes: 1024 * 1024,
    write: (file, bytes) => writeFile(path.join(out, file), bytes),
  });
  const manifest = parseManifest(JSON.parse(await readTextFile(path.join(out, 'manifest.json'))), path.join(out, 'manifest.json'));
  const source = manifestSource(manifest, 'mmdit', (shard) => fileSource(path.join(out, shard.file)));
  return { result, manifest, source };
}

const sizes: string[] = [];
afterAll(() => {
  if (sizes.length) console.log(`converted sizes on disk (shards):\n  ${sizes.join('\n  ')}`);
});

const CASES = [
  ['c1_sd3m', 'weights.safetensors'],
  ['c2_sd35l_qknorm', 'weights.safetensors'],
  ['c3_sd35m_mmditx', 'weights.safetensors'],
  ['c4_big_d4', 'weights.safetensors'],
] as const;

describe('converting the reference checkpoints', () => {
  for (const [config, file] of CASES) {
    for (const quant of ['f32', 'f16', 'int8', 'int4'] as const) {
      it(`${config} → ${quant}: every tensor reads back within its bound, quantised by the rule`, async () => {
        const input = await openSafetensors(await fileSource(path.join(VECTORS_DIR, config, file)));
        const { result, manifest, source } = await convertTo(config, input, quant);
        expect(source.tensors.size).toBe(input.tensors.size);
        const q = quant === 'int8' ? 'q8' : quant === 'int4' ? 'q4' : null;
        for (const [name, info] of input.tensors) {
          const entry = manifest.components.mmdit?.tensors[name];
          expect(entry, name).toBeDefined();
          if (!entry) continue;
          const quantised = q !== null && defaultQuantRule(name, info.shape, 'mmdit');
          // Rank-1 tensors are stored as the kernels bind them, f32 (weights/format-rule.ts).
          const plain = quant === 'f32' || info.shape.length <= 1;
          expect(entry.format, name).toBe(quantised ? q : plain ? 'f32' : 'f16');
          const original = toFloat32(await input.read(name), info.dtype);
          const stored = decodeAs(await source.read(name), quantised ? await source.readScales?.(name) : undefined, info.shape, entry.format);
          const limit = quantised ? PER_TENSOR_LIMIT[quant] : plain ? 0 : PER_TENSOR_LIMIT.f16;
          expect(relativeL2(original, stored), name).toBeLessThanOrEqual(limit);
        }
        const quantisedCount = result.report.filter((r: TensorReport) => r.format === q).length;
        // Two joint blocks; the last context block is pre-only (no proj, no MLP): at least 13 Linears.
        if (q) expect(quantisedCount).toBeGreaterThanOrEqual(13);
        sizes.push(`${config} ${quant}: ${result.bytes} bytes in ${manifest.components.mmdit?.shards.length} shards`);
      });
    }
  }

  it('c3 diffusers folder converts with the diffusers names quantised', async () => {
    const input = await openDiffusersShards(fileDirectoryReader, path.join(VECTORS_DIR, 'c3_sd35m_mmditx/diffusers/transformer'));
    const { manifest } = await convertTo('c3-diffusers', input, 'int8');
    const formats = Object.entries(manifest.components.mmdit?.tensors ?? {});
    expect(formats.filter(([, t]) => t.format === 'q8').length).toBeGreaterThanOrEqual(14);
    expect(manifest.components.mmdit?.tensors['transformer_blocks.0.attn.to_q.weight']?.format).toBe('q8');
    expect(manifest.components.mmdit?.tensors['transformer_blocks.0.norm1.linear.weight']?.format).toBe('f16');
  });

  it('c4 ONNX (FLOAT16 initialisers) converts to f16 bit-identical to its safetensors (rank-1 tensors exactly as f32)', async () => {
    const onnx = await openOnnx(await fileSource(path.join(VECTORS_DIR, 'c4_big_d4/model_b2_64x64_L13.onnx')));
    const weights: TensorSource = { ...onnx, tensors: new Map([...onnx.tensors].filter(([n]) => n.startsWith('model.diffusion_model.'))) };
    const st = await openSafetensors(await fileSource(path.join(VECTORS_DIR, 'c4_big_d4/weights.safetensors')));
    const { source, result } = await convertTo('c4-onnx', weights, 'f16');
    expect(result.report.every((r) => r.relL2 === 0)).toBe(true);
    for (const [name, info] of st.tensors) {
      if (info.shape.length > 1) expect(Buffer.compare(await source.read(name), await st.read(name)), name).toBe(0);
      else expect(toFloat32(await source.read(name), 'F32'), name).toEqual(toFloat32(await st.read(name), info.dtype));
    }
  });
});
