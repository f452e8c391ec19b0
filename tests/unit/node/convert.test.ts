import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as onnxModule from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { canonicalComponent } from '../../../src/node/canonical-components.js';
import { fileSource } from '../../../src/node/file-source.js';
import { convert } from '../../../src/weights/convert.js';
import { openSafetensors } from '../../../src/weights/safetensors.js';
import { convertCheckpoints, runConvert, type ConvertCommandOptions } from '../../../src/node/commands/convert.js';
import { openWeightsPath } from '../../../src/node/weights-source.js';
import { toFloat32 } from '../../../src/weights/decode.js';
import { COMPONENTS, type ComponentName, type ModelManifest, type WeightsVariant } from '../../../src/weights/manifest.js';
import { decodeAs, relativeL2 } from '../../../src/weights/quantize.js';
import { encodeSafetensors } from '../../../src/weights/safetensors-write.js';
import type { TensorSource } from '../../../src/weights/tensor-source.js';
import { f32Tensor, randomFloats, SHARED_DIR } from '../weights/helpers.js';
import { C1, C1_ONNX, C2, C3, tempDir, TEXT, writeDiffusersRoot, writeSingleFile } from './fixtures.js';

const onnx = onnxModule.onnx ?? (onnxModule as unknown as { default: typeof onnxModule }).default.onnx;

/** Per-tensor relative L2 of stored against input values (f16 rounding; q8/q4 a fraction of a step). */
const LIMIT = { f16: 5e-4, q8: 0.01, q4: 0.15 } as const;

let dir = '';
let singleFile = '';
beforeAll(async () => {
  dir = await tempDir('convert-cmd');
  singleFile = await writeSingleFile(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

let outCount = 0;
async function run(inputs: string[], quant: WeightsVariant, extra: Partial<ConvertCommandOptions> = {}) {
  const out = path.join(dir, `out-${outCount++}`);
  const lines: string[] = [];
  const result = await convertCheckpoints({ inputs, out, quant, log: (l) => lines.push(l), ...extra });
  const opened = await openWeightsPath(result.manifestPath);
  return { result, out, lines, manifest: opened.manifest as ModelManifest, components: opened.components };
}

/** Every stored tensor against the same canonical tensor of the input, within its format's bound. */
async function expectFaithful(component: ComponentName, input: TensorSource, stored: TensorSource, manifest: ModelManifest): Promise<void> {
  const original = canonicalComponent(component, input).source;
  const reopened = canonicalComponent(component, stored).source;
  expect([...reopened.tensors.keys()].sort()).toEqual([...original.tensors.keys()].sort());
  for (const [name, info] of original.tensors) {
    const entry = manifest.components[component]?.tensors[name];
    if (!entry) throw new Error(`${component} ${name} missing from the manifest`);
    const values = toFloat32(await original.read(name), info.dtype, name);
    const scales = entry.format === 'q8' || entry.format === 'q4' ? await reopened.readScales?.(name) : undefined;
    const back = decodeAs(await reopened.read(name), scales, info.shape, entry.format);
    const limit = entry.format === 'f32' || (entry.format === 'f16' && info.dtype === 'F16') ? 0 : LIMIT[entry.format as keyof typeof LIMIT];
    expect(relativeL2(values, back), `${component} ${name} (${entry.format})`).toBeLessThanOrEqual(limit);
  }
}

function formatOf(manifest: ModelManifest, component: ComponentName, name: string): string | undefined {
  return manifest.components[component]?.tensors[name]?.format;
}

describe('convert: checkpoint layouts', () => {
  it('an SD3 single file gives all five components under canonical names, with configs and the int8 rule', async () => {
    const { manifest, components } = await run([singleFile], 'int8');
    expect(Object.keys(manifest.components).sort()).toEqual([...COMPONENTS].sort());
    expect(manifest.kind).toBe('sd3');
    expect(manifest.model).toBe('sd3_incl_clips_t5xxl');
    expect(manifest.quantization?.scheme).toMatch(/^q8/);
    expect(manifest.components.mmdit?.config).toMatchObject({ depth: 2, hidden: 128, contextDim: 4096, qkNorm: false });
    expect(manifest.components.clip_l?.config).toMatchObject({ model: 'clip_l', hidden: 64, layers: 3 });
    expect(manifest.components.clip_g?.config).toMatchObject({ model: 'clip_g', hidden: 128, projectPooled: true });
    expect(manifest.components.t5?.config).toMatchObject({ dModel: 64, heads: 2, layers: 3 });
    expect(manifest.components.vae?.config).toMatchObject({ channels: [32, 32, 64, 64], latentChannels: 16, hasDecoder: true, hasEncoder: true, scale: 1.5305 });
    expect(formatOf(manifest, 'mmdit', 'joint_blocks.0.x_block.attn.qkv.weight')).toBe('q8');
    expect(formatOf(manifest, 'mmdit', 'final_layer.linear.weight')).toBe('f16');
    expect(formatOf(manifest, 'clip_l', 'layers.0.attn.qkv.weight')).toBe('q8');
    expect(formatOf(manifest, 'clip_l', 'token_embedding.weight')).toBe('f16');
    expect(formatOf(manifest, 't5', 'blocks.1.ffn.wi_0.weight')).toBe('q8');
    expect(formatOf(manifest, 't5', 'relative_attention_bias.weight')).toBe('f16');
    // Conv weights are [out, kh, kw, in] (K = in, a multiple of 4): f16 like the rest of the VAE.
    expect(manifest.components.vae?.tensors['decoder.conv_in.weight']).toMatchObject({ shape: [64, 3, 3, 16], format: 'f16' });
    expect(formatOf(manifest, 'vae', 'decoder.mid.attn_1.qkv.weight')).toBe('f16');
    const input = await openWeightsPath(singleFile);
    for (const c of COMPONENTS) await expectFaithful(c, input.components[c] as TensorSource, components[c] as TensorSource, manifest);
  });

  it('a single file without T5 converts its four components', async () => {
    const file = await writeSingleFile(path.join(dir), { t5: false });
    const { manifest } = await run([file], 'f16');
    expect(Object.keys(manifest.components).sort()).toEqual(['clip_g', 'clip_l', 'mmdit', 'vae']);
  });

  it('a diffusers folder converts to the same denoiser bytes as the original layout, and carries its tokenizer', async () => {
    const root = await writeDiffusersRoot(dir, path.join(SHARED_DIR, 'tokenizers'));
    const fromDiffusers = await run([root], 'int4');
    const fromOriginal = await run([C3], 'int4');
    expect(Object.keys(fromDiffusers.manifest.components).sort()).toEqual(['clip_l', 'mmdit', 'vae']);
    expect(fromDiffusers.manifest.kind).toBe('sd3.5-medium');
    expect(fromDiffusers.manifest.components.mmdit?.shards).toEqual(fromOriginal.manifest.components.mmdit?.shards);
    expect(fromDiffusers.manifest.components.vae?.config).toMatchObject({ hasDecoder: true, hasEncoder: false });
    const reference = await run([TEXT.vae], 'f16');
    const [fromD, fromR] = [fromDiffusers.components.vae!, reference.components.vae!];
    for (const name of fromD.tensors.keys()) {
      expect(name.startsWith('decoder.'), name).toBe(true);
      expect(Buffer.compare(await fromD.read(name), await fromR.read(name)), `vae ${name}`).toBe(0);
    }
    expect(fromDiffusers.manifest.tokenizers).toEqual({ clip_l: { vocab: 'tokenizers/clip_l/vocab.json', merges: 'tokenizers/clip_l/merges.txt' } });
    const vocab = await readFile(path.join(fromDiffusers.out, 'tokenizers/clip_l/vocab.json'));
    expect(vocab.equals(await readFile(path.join(SHARED_DIR, 'tokenizers/clip/vocab.json')))).toBe(true);
  });

  it('loose safetensors are assigned by their names, CLIP-L/G by their paths', async () => {
    const { manifest, components } = await run([C2, TEXT.clip_g, TEXT.t5], 'int8');
    expect(Object.keys(manifest.components).sort()).toEqual(['clip_g', 'mmdit', 't5']);
    expect(manifest.kind).toBe('sd3.5-large');
    const input = await openWeightsPath(TEXT.t5);
    await expectFaithful('t5', input.loose as TensorSource, components.t5 as TensorSource, manifest);
  });

  it('clip_l=<path> assigns a CLIP file whose path names no model', async () => {
    const { manifest } = await run([`clip_l=${TEXT.clip_g}`], 'f16');
    expect(manifest.components.clip_l?.config).toMatchObject({ model: 'clip_l', hidden: 128 });
  });

  it('ONNX initialisers convert to the same shards as the safetensors they were exported from', async () => {
    const onnx = await run([C1_ONNX], 'int8');
    const st = await run([C1], 'int8');
    expect(onnx.manifest.components.mmdit?.shards).toEqual(st.manifest.components.mmdit?.shards);
  });

  it('an ONNX model with external data converts like the safetensors its tensors came from', async () => {
    const st = await openSafetensors(await fileSource(C1));
    const folder = path.join(dir, 'onnx-external');
    await mkdir(folder, { recursive: true });
    const chunks: Uint8Array[] = [];
    const initializer: onnxModule.onnx.ITensorProto[] = [];
    let offset = 0;
    for (const info of st.tensors.values()) {
      const data = await st.read(info.name);
      const external = [
        { key: 'location', value: 'model.onnx.data' },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(data.byteLength) },
      ];
      initializer.push({ name: info.name, dims: [...info.shape], dataType: onnx.TensorProto.DataType.FLOAT, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: external });
      chunks.push(data);
      offset += data.byteLength;
    }
    const model = onnx.ModelProto.encode({ irVersion: 8, graph: { name: 'mmdit', node: [], initializer } }).finish();
    await writeFile(path.join(folder, 'model.onnx'), model);
    await writeFile(path.join(folder, 'model.onnx.data'), Buffer.concat(chunks));
    const fromOnnx = await run([path.join(folder, 'model.onnx')], 'int8');
    const fromSafetensors = await run([C1], 'int8');
    expect(fromOnnx.manifest.components.mmdit?.shards).toEqual(fromSafetensors.manifest.components.mmdit?.shards);
  });

  it('a converted manifest re-converts: f32 → int8 equals converting the checkpoint to int8', async () => {
    const f32 = await run([C1], 'f32');
    const again = await run([f32.result.manifestPath], 'int8');
    const direct = await run([C1], 'int8');
    expect(again.manifest.components.mmdit?.shards).toEqual(direct.manifest.components.mmdit?.shards);
    expect(again.manifest.model).toBe(path.basename(f32.out));
  });

  it('--tokenizers copies the CLIP and T5 files of the text components present', async () => {
    const { manifest, out } = await run([singleFile], 'f16', { tokenizers: path.join(SHARED_DIR, 'tokenizers') });
    expect(Object.keys(manifest.tokenizers).sort()).toEqual(['clip_g', 'clip_l', 't5']);
    expect(manifest.tokenizers['t5']).toEqual({ tokenizer: 'tokenizers/t5/tokenizer.json' });
    expect((await stat(path.join(out, 'tokenizers/t5/tokenizer.json'))).size).toBeGreaterThan(0);
  });
});

describe('convert: output folder and report', () => {
  it('cuts shards at --shard-mb, prints one row per tensor and removes the shards of an earlier conversion', async () => {
    const out = path.join(dir, 'reused');
    const lines: string[] = [];
    const big = await convertCheckpoints({ inputs: [singleFile], out, quant: 'f32', shardBytes: 1024 * 1024, log: (l) => lines.push(l) });
    const shards = Object.values(big.manifest.components).flatMap((c) => c.shards);
    expect(shards.every((s) => s.bytes <= 1024 * 1024)).toBe(true);
    expect(shards.length).toBeGreaterThan(10);
    const rows = lines.filter((l) => /^(mmdit|clip_l|clip_g|t5|vae)\s+\S+\s+\[/.test(l));
    expect(rows.length).toBe(big.report.length);
    expect(lines.some((l) => /^mmdit: 51 tensors \(51 f32\)/.test(l))).toBe(true);
    const second = await convertCheckpoints({ inputs: [C1], out, quant: 'int4', log: () => undefined });
    const files = (await readdir(out)).filter((f) => f.endsWith('.bin'));
    expect(files.sort()).toEqual(second.manifest.components.mmdit?.shards.map((s) => s.file).sort());
    for (const s of second.manifest.components.mmdit?.shards ?? []) {
      expect(createHash('sha256').update(await readFile(path.join(out, s.file))).digest('hex')).toBe(s.sha256);
    }
  });

  it('streams: live memory stays near one shard plus one tensor, far below the checkpoint size', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // The pause lets V8 release freed ArrayBuffer stores, which it does concurrently.
    const live = async (): Promise<number> => {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    // 48 tensors of 1 MiB (f32), the layout of 12 joint-block Linear layers: 48 MiB in the file.
    const tensors = Array.from({ length: 48 }, (_, i) =>
      f32Tensor(`model.diffusion_model.joint_blocks.${i}.x_block.mlp.fc1.weight`, [512, 512], randomFloats(512 * 512, i, 0.05)),
    );
    const file = path.join(dir, 'big.safetensors');
    await writeFile(file, encodeSafetensors(tensors));
    tensors.length = 0;
    const source = await openSafetensors(await fileSource(file));
    const baseline = await live();
    let peak = 0;
    await convert({
      model: 'big',
      quant: 'int4',
      inputs: { mmdit: source },
      shardBytes: 2 * 1024 * 1024,
      write: async () => {
        peak = Math.max(peak, (await live()) - baseline);
      },
    });
    console.log(`convert of a 48 MiB checkpoint with 2 MiB shards: peak live JS memory ${(peak / 2 ** 20).toFixed(1)} MiB above baseline`);
    // One shard (2 MiB) + one tensor in f32 (1 MiB) and its copies while it is encoded: a few MiB.
    expect(peak).toBeLessThan(12 * 1024 * 1024);
  });
});

describe('convert: command line', () => {
  const quiet = () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    return { log, error, restore: () => (log.mockRestore(), error.mockRestore()) };
  };

  it('writes a model and exits 0', async () => {
    const out = path.join(dir, 'cli');
    const q = quiet();
    try {
      expect(await runConvert([C2, '--quant', 'int4', '--out', out, '--model', 'c2-int4', '--shard-mb', '1'])).toBe(0);
    } finally {
      q.restore();
    }
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as ModelManifest;
    expect(manifest).toMatchObject({ model: 'c2-int4', variant: 'int4', kind: 'sd3.5-large' });
  });

  const usage: [string, string[], RegExp][] = [
    ['no --out', [C1], /--out/],
    ['an unknown --quant', [C1, '--out', 'x', '--quant', 'int3'], /--quant/],
    ['an unknown flag', [C1, '--out', 'x', '--fast'], /--fast/],
    ['no inputs', ['--out', 'x'], /inputs/],
    ['a missing input', ['/nonexistent/model.safetensors', '--out', 'x'], /nonexistent/],
    ['a bad --shard-mb', [C1, '--out', 'x', '--shard-mb', '0.5'], /--shard-mb/],
    ['an unknown component', [C1, '--out', 'x', '--components', 'unet'], /--components/],
  ];
  for (const [what, argv, message] of usage) {
    it(`exits 2 on ${what}, naming it`, async () => {
      const q = quiet();
      try {
        expect(await runConvert(argv)).toBe(2);
        expect(String(q.error.mock.calls[0]?.[0])).toMatch(message);
      } finally {
        q.restore();
      }
    });
  }

  const rejected: [string, () => Promise<string[]>, RegExp][] = [
    ['a safetensors file of no known model', async () => {
      const file = path.join(dir, 'other.safetensors');
      await writeFile(file, encodeSafetensors([f32Tensor('conv.weight', [4, 4], new Float32Array(16))]));
      return [file];
    }, /other\.safetensors.*no MM-DiT, CLIP, T5 or VAE/],
    ['a component supplied twice', async () => [C1, C2], /"mmdit": is supplied twice/],
    ['clip_l= given a T5 file', async () => [`clip_l=${TEXT.t5}`], /given as clip_l but holds a t5/],
    ['--components naming a component no input holds', async () => [C1, '--components', 'mmdit,t5'], /"t5": asked for/],
    ['an int8 model converted to int4', async () => {
      const int8 = path.join(dir, 'int8-for-requant');
      await convertCheckpoints({ inputs: [C2], out: int8, quant: 'int8', log: () => undefined });
      return [int8, '--quant', 'int4'];
    }, /--quant.*int8: the input is already quantised/],
  ];
  for (const [what, inputs, message] of rejected) {
    it(`exits 1 on ${what}, naming it`, async () => {
      const argv = [...(await inputs()), '--out', path.join(dir, 'rejected')];
      const q = quiet();
      try {
        expect(await runConvert(argv)).toBe(1);
        expect(String(q.error.mock.calls[0]?.[0])).toMatch(message);
      } finally {
        q.restore();
      }
    });
  }
});
