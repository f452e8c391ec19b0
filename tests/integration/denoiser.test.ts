import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, WeightsMismatchError } from '../../src/errors.js';
import { loadDenoiser } from '../../src/runtime/denoiser.js';
import { canonicalizeMmdit } from '../../src/models/mmdit/keys.js';
import { convert as convertCheckpoint } from '../../src/weights/convert.js';
import { runVerify } from '../../src/node/commands/verify.js';
import { openWeights } from '../../src/node/verify-mmdit.js';
import { compareTensors, readVectorIndex, readVectorTensor, runVectorSet, type VerifyReport } from '../../src/node/verify.js';
import { readTensor } from '../../src/tensor/read.js';
import { encodeF16, encodeF32, toFloat32 } from '../../src/weights/decode.js';
import type { TensorDtype, TensorInfo, TensorSource } from '../../src/weights/tensor-source.js';
import { testGpu } from '../setup/gpu.js';

const SHARED = process.env.MMDIT_SHARED ?? resolve(process.cwd(), '../shared');
const VECTORS = process.env.MMDIT_VECTORS ?? join(SHARED, 'vectors');

/** A source whose tensors are re-stored in another dtype (F16, or BF16 rounded to nearest even). */
function convert(source: TensorSource, dtype: TensorDtype): TensorSource {
  const tensors = new Map<string, TensorInfo>();
  for (const [name, t] of source.tensors) tensors.set(name, { ...t, dtype, byteLength: t.byteLength / 2 });
  return {
    origin: `${source.origin} as ${dtype}`,
    tensors,
    async read(name, signal) {
      const values = toFloat32(await source.read(name, signal), (source.tensors.get(name) as TensorInfo).dtype);
      if (dtype === 'F16') return encodeF16(values);
      const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
      return new Uint8Array(Uint16Array.from(bits, (u) => (u + 0x7fff + ((u >>> 16) & 1)) >>> 16).buffer);
    },
  };
}

/** The same source with the values its tensors decode to, stored as F32. */
function decodedF32(source: TensorSource): TensorSource {
  const tensors = new Map<string, TensorInfo>();
  for (const [name, t] of source.tensors) tensors.set(name, { ...t, dtype: 'F32', byteLength: t.shape.reduce((p, d) => p * d, 4) });
  return { origin: `${source.origin} decoded`, tensors, read: async (name, signal) => encodeF32(toFloat32(await source.read(name, signal), (source.tensors.get(name) as TensorInfo).dtype)) };
}

/** A source edited like a broken file: tensors dropped, renamed or given another shape. */
function edited(source: TensorSource, edit: { drop?: string; rename?: [string, string]; reshape?: [string, number[]] }): TensorSource {
  const tensors = new Map<string, TensorInfo>();
  const back = new Map<string, string>();
  for (const [name, t] of source.tensors) {
    if (name === edit.drop) continue;
    const to = edit.rename?.[0] === name ? edit.rename[1] : name;
    back.set(to, name);
    tensors.set(to, edit.reshape?.[0] === name ? { ...t, shape: edit.reshape[1] } : { ...t, name: to });
  }
  return { origin: 'edited', tensors, read: (name, signal) => source.read(back.get(name) ?? name, signal) };
}

async function forwardOut(source: TensorSource, caseName: string): Promise<Float32Array> {
  const gpu = await testGpu();
  const index = await readVectorIndex(VECTORS);
  const c = index.cases.find((x) => x.name === caseName)!;
  const denoiser = await loadDenoiser(gpu.rt, source);
  try {
    const [B, , Hl, Wl] = c.inputs['x']!.shape as number[];
    const graph = await denoiser.compile({ batch: B!, latentHeight: Hl!, latentWidth: Wl!, contextLength: c.inputs['context']!.shape[1]!, cfg: false });
    graph.writeLatent(await readVectorTensor(VECTORS, c.inputs['x']!));
    graph.writeContext(await readVectorTensor(VECTORS, c.inputs['context']!));
    graph.writePooled(await readVectorTensor(VECTORS, c.inputs['y']!));
    graph.writeTimesteps(Array.from(await readVectorTensor(VECTORS, c.inputs['t']!)));
    graph.forward(0);
    return await readTensor(gpu.ctx, graph.output);
  } finally {
    denoiser.dispose();
  }
}

describe('denoiser reference vectors (verify, f32, SwiftShader)', () => {
  let report: VerifyReport;
  const index = JSON.parse(readFileSync(join(VECTORS, 'index.json'), 'utf8')) as { cases: { name: string; kind: string; outputs: object; intermediates?: object }[] };
  const cases = index.cases.filter((c) => c.kind === 'forward' || c.kind === 'sampling');

  beforeAll(async () => {
    report = await runVectorSet({ dir: VECTORS, only: ['forward', 'sampling'], gpu: await testGpu(), log: () => undefined });
  }, 1_200_000);

  it('holds every public denoiser case (a missing set fails, nothing is skipped)', () => {
    expect(cases.length).toBeGreaterThanOrEqual(7);
    expect(report.cases.map((c) => c.name)).toEqual(cases.map((c) => c.name));
  });

  for (const c of cases) {
    it(`${c.name}: every output and intermediate within tolerance`, () => {
      const r = report.cases.find((x) => x.name === c.name)!;
      expect(r.error, JSON.stringify(r.error)).toBeUndefined();
      const failing = r.tensors.filter((t) => !t.pass).map((t) => `${t.role} ${t.name}: max-abs ${t.maxAbs} > ${JSON.stringify(t.tolerance)}`);
      expect(failing).toEqual([]);
      expect(r.tensors.map((t) => t.name).sort()).toEqual([...Object.keys(c.outputs), ...Object.keys(c.intermediates ?? {})].sort());
      expect(r.pass).toBe(true);
      expect(r.peakGpuBytes).toBeGreaterThan(0);
    });
  }
});

describe('denoiser weights in every dtype and layout', () => {
  it('F16 weights (c1 converted) decode exactly and stay within the issue-4 limit', async () => {
    const f32 = await openWeights(join(VECTORS, 'c1_sd3m/weights.safetensors'));
    const f16 = convert(f32, 'F16');
    const got = await forwardOut(f16, 'c1_sd3m/forward_b2_32x32');
    expect(compareTensors(got, await forwardOut(decodedF32(f16), 'c1_sd3m/forward_b2_32x32')).maxAbs).toBeLessThan(1e-5);
    const expected = await readVectorTensor(VECTORS, { file: 'c1_sd3m/forward_b2_32x32/out.bin', shape: [2, 16, 32, 32], dtype: 'float32' });
    expect(compareTensors(got, expected).relL2).toBeLessThan(0.00052);
  });

  it('BF16 weights (c2 converted) decode exactly', async () => {
    const bf16 = convert(await openWeights(join(VECTORS, 'c2_sd35l_qknorm/weights.safetensors')), 'BF16');
    const got = await forwardOut(bf16, 'c2_sd35l_qknorm/forward_b2_16x24');
    expect(compareTensors(got, await forwardOut(decodedF32(bf16), 'c2_sd35l_qknorm/forward_b2_16x24')).maxAbs).toBeLessThan(1e-5);
  });

  it('ONNX initialisers (c1, FLOAT) load as a weight source', async () => {
    const got = await forwardOut(await openWeights(join(VECTORS, 'c1_sd3m/model_b2_32x32_L13.onnx')), 'c1_sd3m/forward_b2_32x32');
    const expected = await readVectorTensor(VECTORS, { file: 'c1_sd3m/forward_b2_32x32/out.bin', shape: [2, 16, 32, 32], dtype: 'float32' });
    expect(compareTensors(got, expected).maxAbs).toBeLessThan(1e-4);
  });
});

describe('bad checkpoints', () => {
  const P = 'model.diffusion_model.';
  const broken: [string, string, (s: TensorSource) => TensorSource, string][] = [
    ['original', 'c1_sd3m/weights.safetensors', (s) => edited(s, { drop: `${P}joint_blocks.1.x_block.attn.qkv.bias` }), `${P}joint_blocks.1.x_block.attn.qkv.bias`],
    ['original', 'c1_sd3m/weights.safetensors', (s) => edited(s, { rename: [`${P}final_layer.linear.bias`, `${P}final_layer.linear.b`] }), `${P}final_layer.linear.b`],
    ['original', 'c2_sd35l_qknorm/weights.safetensors', (s) => edited(s, { reshape: [`${P}joint_blocks.0.x_block.mlp.fc1.weight`, [256, 128]] }), `${P}joint_blocks.0.x_block.mlp.fc1.weight`],
    ['diffusers', 'c3_sd35m_mmditx/diffusers/transformer/diffusion_pytorch_model.safetensors', (s) => edited(s, { drop: 'transformer_blocks.0.attn2.to_v.weight' }), 'transformer_blocks.0.attn2.to_'],
    ['diffusers', 'c3_sd35m_mmditx/diffusers/transformer/diffusion_pytorch_model.safetensors', (s) => edited(s, { reshape: ['norm_out.linear.weight', [128, 128]] }), 'norm_out.linear.weight'],
  ];
  for (const [layout, file, edit, key] of broken) {
    it(`${layout}: ${key} → CheckpointError naming it, before any GPU work`, async () => {
      const gpu = await testGpu();
      const live = gpu.ctx.memory.liveBuffers;
      const error = await loadDenoiser(gpu.rt, edit(await openWeights(join(VECTORS, file)))).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CheckpointError);
      expect((error as CheckpointError).key).toContain(key);
      expect(gpu.ctx.memory.liveBuffers).toBe(live);
    });
  }
});

/**
 * A temporary index holding some public cases; their folders are linked in, because the files an
 * index names must stay inside its folder.
 */
function subsetIndex(dir: string, names: readonly string[], edit: (c: Record<string, unknown>) => Record<string, unknown> = (c) => c): void {
  const index = JSON.parse(readFileSync(join(VECTORS, 'index.json'), 'utf8')) as { configs: object; cases: { name: string }[] };
  for (const folder of new Set(names.map((n) => n.split('/')[0] as string))) {
    if (!existsSync(join(dir, folder))) symlinkSync(join(VECTORS, folder), join(dir, folder));
  }
  const cases = names.map((name) => edit({ ...index.cases.find((x) => x.name === name)! }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ version: 1, configs: index.configs, cases }));
}

describe('verify command', () => {
  it('--weights replaces the weights of the cases it fits and judges them by the issue-4 limits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmdit-verify-weights-'));
    try {
      const out = join(dir, 'c2-int8');
      mkdirSync(out);
      await convertCheckpoint({
        model: 'c2', quant: 'int8',
        inputs: { mmdit: await openWeights(join(VECTORS, 'c2_sd35l_qknorm/weights.safetensors')) },
        canonicalize: { mmdit: (s) => canonicalizeMmdit(s).source },
        write: async (file, bytes) => writeFileSync(join(out, file), bytes),
      });
      subsetIndex(dir, ['c2_sd35l_qknorm/forward_b2_16x24', 'c1_sd3m/forward_b1_24x40']);
      const report = await runVectorSet({ dir, weights: join(out, 'manifest.json'), gpu: await testGpu(), log: () => undefined });
      const [c2, c1] = report.cases;
      expect(report.weights).toBe(join(out, 'manifest.json'));
      expect(c2!.tolerance).toEqual({ relL2: 0.0029 });
      expect(c2!.tensors.map((t) => t.name)).toEqual(['out']);
      expect(c2!.relL2).toBeGreaterThan(1e-5);
      expect(c2!.pass).toBe(true);
      expect(c1!.tolerance).toEqual({ maxAbs: 1e-4 });
      expect(c1!.pass).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--weights that fit no case stop the run before any case, naming both configurations', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmdit-verify-mismatch-'));
    try {
      subsetIndex(dir, ['c2_sd35l_qknorm/forward_b2_16x24']);
      const weights = join(VECTORS, 'c1_sd3m/weights.safetensors');
      const error = await runVectorSet({ dir, weights, gpu: await testGpu(), log: () => undefined }).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(WeightsMismatchError);
      expect((error as WeightsMismatchError).weightsConfig).toMatch(/MM-DiT of depth \d+, hidden \d+/);
      expect((error as WeightsMismatchError).caseConfigs[0]).toMatch(/^c2_sd35l_qknorm: .*qk_norm "rms"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 on bad usage and names the problem', async () => {
    expect(await runVerify([])).toBe(2);
    expect(await runVerify([VECTORS, '--precision', 'f64'])).toBe(2);
    expect(await runVerify([VECTORS, '--frobnicate'])).toBe(2);
    expect(await runVerify(['/nonexistent-vectors'])).toBe(2);
    expect(await runVerify([VECTORS, '--only', 'no_such_kind'])).toBe(2);
  });

  it('writes the version-1 report and exits 1 when a case is over tolerance', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmdit-verify-'));
    try {
      const name = 'c2_sd35l_qknorm/forward_b2_16x24';
      subsetIndex(dir, [name]);
      const written = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { cases: Record<string, unknown>[] };
      const ok = { ...written.cases[0], intermediates: undefined };
      writeFileSync(join(dir, 'index.json'), JSON.stringify({ ...written, cases: [ok, { ...ok, name: 'too-tight', tolerance: { maxAbs: 1e-12 } }] }));
      const json = join(dir, 'report.json');
      const log = console.log;
      console.log = () => undefined;
      const code = await runVerify([dir, '--json', json]).finally(() => (console.log = log));
      expect(code).toBe(1);
      const report = JSON.parse(readFileSync(json, 'utf8')) as VerifyReport;
      expect(report.version).toBe(1);
      expect(report.pass).toBe(false);
      expect(report.precision).toBe('f32');
      expect(report.weights).toBeNull();
      expect(Object.keys(report.adapter).sort()).toEqual(['architecture', 'description', 'isFallbackAdapter', 'vendor']);
      expect(report.cases.map((x) => [x.name, x.kind, x.pass])).toEqual([[name, 'forward', true], ['too-tight', 'forward', false]]);
      const first = report.cases[0]!;
      expect(Object.keys(first).sort()).toEqual(['config', 'kind', 'maxAbs', 'ms', 'name', 'pass', 'peakGpuBytes', 'relL2', 'tensors', 'tolerance', 'weights'].sort());
      expect(first.weights).toBe(join(dir, 'c2_sd35l_qknorm/weights.safetensors'));
      expect(first.tolerance).toEqual({ maxAbs: 1e-4 });
      expect(first.tensors[0]).toMatchObject({ name: 'out', role: 'output', pass: true, tolerance: { maxAbs: 1e-4 } });
      expect(first.maxAbs).toBeLessThan(1e-4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
