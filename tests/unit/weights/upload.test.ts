import { describe, expect, it } from 'vitest';
import { bytesSource } from '../../../src/weights/byte-source.js';
import { convert } from '../../../src/weights/convert.js';
import { loadShards } from '../../../src/weights/loader.js';
import { manifestSource, parseManifest } from '../../../src/weights/manifest.js';
import { openSafetensors } from '../../../src/weights/safetensors.js';
import { createComponentUploader, type UploadTarget } from '../../../src/weights/upload.js';
import { encodeSafetensors, f32Tensor, randomFloats } from './helpers.js';

/** Records buffers and writes in CPU memory instead of on a GPU. */
function recorder() {
  const memory = new Map<GPUBuffer, Uint8Array>();
  const labels = new Map<GPUBuffer, string>();
  const target: UploadTarget = {
    createBuffer(label, size) {
      const buffer = { label, size } as unknown as GPUBuffer;
      memory.set(buffer, new Uint8Array(size));
      labels.set(buffer, label);
      return buffer;
    },
    write(buffer, offset, data) {
      expect(offset % 4).toBe(0);
      expect(data.byteLength % 4).toBe(0);
      memory.get(buffer)?.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    },
  };
  return { target, memory };
}

describe('createComponentUploader', () => {
  it('writes every tensor, part and scale piecewise as shards arrive', async () => {
    const files = new Map<string, Uint8Array>();
    const QKV = 'joint_blocks.0.x_block.attn.qkv.weight';
    await convert({
      model: 'tiny',
      quant: 'int4',
      inputs: {
        mmdit: await openSafetensors(
          bytesSource(encodeSafetensors([f32Tensor(QKV, [48, 64], randomFloats(48 * 64, 5)), f32Tensor('x.bias', [6], randomFloats(6, 6))])),
        ),
      },
      shardBytes: 512,
      partBytes: 512,
      write: async (f, b) => void files.set(f, b.slice()),
    });
    const manifest = parseManifest(JSON.parse(new TextDecoder().decode(files.get('manifest.json'))), 'manifest.json');
    const { target, memory } = recorder();
    const uploader = createComponentUploader(target, manifest, 'mmdit');
    expect(uploader.complete).toBe(false);
    await loadShards({
      manifest,
      manifestUrl: 'manifest.json',
      cache: null,
      readShard: async (url) => files.get(url) ?? new Uint8Array(0),
      onShard: (s) => uploader.onShard(s),
    });
    expect(uploader.complete).toBe(true);
    const source = manifestSource(manifest, 'mmdit', async (s) => bytesSource(files.get(s.file) ?? new Uint8Array(0)));
    const qkv = uploader.tensors.get(QKV);
    expect(qkv?.parts.length).toBe(3);
    const joined = (bufs: GPUBuffer[], sizes: number[]) => {
      const out: number[] = [];
      bufs.forEach((b, i) => out.push(...(memory.get(b) ?? new Uint8Array(0)).subarray(0, sizes[i])));
      return Uint8Array.from(out);
    };
    const parts = manifest.components.mmdit?.tensors[QKV]?.parts ?? [];
    expect(joined(qkv?.parts.map((p) => p.buffer) ?? [], parts.map((p) => p.bytes))).toEqual(await source.read(QKV));
    expect(joined(qkv?.parts.map((p) => p.scales?.buffer as GPUBuffer) ?? [], parts.map((p) => p.scales?.bytes ?? 0))).toEqual(await source.readScales?.(QKV));
    expect(qkv?.parts[0]).toMatchObject({ shape: [16, 64], format: 'q4', offset: 0 });
    expect(qkv?.parts[0]?.scales).toMatchObject({ format: 'f16', shape: [32] });
    const bias = uploader.tensors.get('x.bias')?.parts[0];
    expect(memory.get(bias?.buffer as GPUBuffer)?.subarray(0, 12)).toEqual(await source.read('x.bias'));
  });
});
