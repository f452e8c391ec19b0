import { describe, expect, it } from 'vitest';
import { isValue, valueBytes } from '../../../../src/graph/builder.js';
import { planBufferSlots } from '../../../../src/graph/plan.js';
import { planCaps, planDenoiserMemory, recordDenoiserPlan, type WeightVariant } from '../../../../src/models/mmdit/memory-plan.js';
import { SD3_CONTEXT_LENGTH, SD3_MEDIUM, SD35_LARGE } from '../../../../src/models/mmdit/presets.js';
import type { MmditConfig } from '../../../../src/models/mmdit/config.js';
import { storageBytes } from '../../../../src/tensor/tensor.js';

const MiB = 2 ** 20;
/** 1024² with CFG: one image, forward batch 2, 128×128 latent. */
const SHAPE_1024 = { batch: 1, cfg: true, latentHeight: 128, latentWidth: 128, contextLength: SD3_CONTEXT_LENGTH } as const;

/** The largest binding of any dispatch of the recorded forward, and every slot's size. */
function bindings(config: MmditConfig, variant: WeightVariant, cap: number, fallback: boolean) {
  const b = recordDenoiserPlan(config, SHAPE_1024, variant, 'f32', planCaps(cap, { isFallbackAdapter: fallback }));
  let largest = 0;
  let where = '';
  for (const op of b.ops) {
    for (const operand of op.bindings) {
      if (operand === null) continue;
      const bytes = isValue(operand) ? valueBytes(operand, 'f32') : storageBytes(operand.shape, operand.format);
      if (bytes > largest) [largest, where] = [bytes, `${op.label}: ${operand.label}`];
    }
  }
  return { largest, where, slots: planBufferSlots(b, 'f32').slotBytes, ops: b.ops.length };
}

describe('MM-DiT plan at 1024² within 128 MiB bindings (shapes only, no weights executed)', () => {
  for (const [name, config] of [['SD3-Medium', SD3_MEDIUM], ['SD3.5-Large', SD35_LARGE]] as const) {
    for (const fallback of [false, true]) {
      it(`${name}, CFG batch 2, f16 weights, f32 compute, ${fallback ? 'CPU-emulation' : 'GPU'} kernels: every binding and slot ≤ 128 MiB`, () => {
        const capped = bindings(config, 'f16', 128 * MiB, fallback);
        expect(capped.largest, capped.where).toBeLessThanOrEqual(128 * MiB);
        for (const bytes of capped.slots) expect(bytes).toBeLessThanOrEqual(128 * MiB);
        // Without the cap the same forward binds more than 128 MiB at once (qkv, MLP hidden), so
        // the cap is what splits it.
        const free = bindings(config, 'f16', 2 ** 40, fallback);
        expect(free.largest).toBeGreaterThan(128 * MiB);
        expect(capped.ops).toBeGreaterThan(free.ops);
      });
    }
  }

  it('SD3-Medium int4 and int8 weights bind within 128 MiB too (quantised matrices carry separate scales)', () => {
    for (const variant of ['int8', 'int4'] as const) {
      const r = bindings(SD3_MEDIUM, variant, 128 * MiB, false);
      expect(r.largest, r.where).toBeLessThanOrEqual(128 * MiB);
    }
  });

  it('planDenoiserMemory: weights, activations and peak add up; int4 < int8 < f16 < f32', () => {
    const peaks = (['f32', 'f16', 'int8', 'int4'] as const).map((variant) => planDenoiserMemory(SD3_MEDIUM, SHAPE_1024, { variant }));
    for (const p of peaks) {
      expect(p.peakBytes).toBe(p.weightBytes + p.positionBytes + p.activationBytes + p.ioBytes);
      expect(p.largestBindingBytes).toBeLessThanOrEqual(128 * MiB);
    }
    expect(peaks.map((p) => p.weightBytes)).toEqual([...peaks.map((p) => p.weightBytes)].sort((a, b) => b - a));
    // SD3-Medium holds about 2.03 G parameters with the full position table: ≈ 3.9 GiB in f16.
    expect(peaks[1]!.weightBytes / 2 ** 30).toBeGreaterThan(3.7);
    expect(peaks[1]!.weightBytes / 2 ** 30).toBeLessThan(4.1);
  });
});
