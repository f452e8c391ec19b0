import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DeviceCaps } from '../../../src/gpu/features.js';
import { GraphBuilder, isValue, type Value, valueBytes } from '../../../src/graph/builder.js';
import { planBufferSlots } from '../../../src/graph/plan.js';
import { binary, unary } from '../../../src/kernels/elementwise.js';

/** Planning is pure: no device, only the capabilities kernels choose variants by. */
const CAPS: DeviceCaps = {
  f16: true,
  subgroups: false,
  timestampQuery: false,
  isFallbackAdapter: true,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxStorageBufferBindingSize: 2 ** 27,
  maxBufferSize: 2 ** 28,
  maxComputeWorkgroupsPerDimension: 65535,
};

/** [first, last] dispatch index of every temp, from the recorded ops. */
function lifetimes(b: GraphBuilder): Map<number, [number, number]> {
  const spans = new Map<number, [number, number]>();
  b.ops.forEach((op, i) => {
    for (const operand of op.bindings) {
      if (!isValue(operand) || operand.kind !== 'temp') continue;
      const span = spans.get(operand.id);
      if (span) span[1] = i;
      else spans.set(operand.id, [i, i]);
    }
  });
  return spans;
}

describe('planBufferSlots', () => {
  it('a chain of unary ops needs two slots whatever its length (one for two ops)', () => {
    for (const length of [2, 3, 8]) {
      const b = new GraphBuilder(CAPS, 'f32');
      let v: Value = b.input('x', [256]);
      for (let i = 0; i < length; i++) v = unary(b, 'silu', v);
      b.output('y', v);
      const plan = planBufferSlots(b, 'f32');
      expect(plan.slotBytes, `chain of ${length}`).toEqual(length === 2 ? [1024] : [1024, 1024]);
      expect(plan.slotOf.size).toBe(length - 1); // the last value is the output: its own buffer
    }
  });

  it('a value still needed later is not overwritten: x feeds op 1 and op 3, so three temps stay apart', () => {
    const b = new GraphBuilder(CAPS, 'f32');
    const x = b.input('x', [64]);
    const a = unary(b, 'silu', x); // 0
    const c = unary(b, 'silu', a); // 1
    const d = unary(b, 'silu', c); // 2
    b.output('y', binary(b, 'add', d, a)); // 3: a lives over [0, 3]
    const plan = planBufferSlots(b, 'f32');
    expect(plan.slotOf.get(a.id)).not.toBe(plan.slotOf.get(c.id));
    expect(plan.slotOf.get(a.id)).not.toBe(plan.slotOf.get(d.id));
    expect(plan.slotOf.get(c.id)).not.toBe(plan.slotOf.get(d.id));
    expect(plan.slotBytes).toHaveLength(3);
  });

  it('sizes a slot by its largest tenant and places the largest values first', () => {
    const b = new GraphBuilder(CAPS, 'f32');
    const x = b.input('x', [1000]);
    const big = unary(b, 'silu', x); // op 0; 4000 B, lives [0, 2]
    const small = unary(b, 'affine', b.input('z', [10])); // op 1; 40 B, [1, 3]
    b.output('p', binary(b, 'mul', big, x)); // op 2
    const later = unary(b, 'silu', small); // op 3; 40 B, [3, 4]
    b.output('q', unary(b, 'silu', later));
    const plan = planBufferSlots(b, 'f32');
    expect(plan.slotBytes[0]).toBe(4000);
    expect(plan.slotOf.get(big.id)).toBe(0);
    // `later` (40 B) lives after `big` ends, so it reuses the 4000-byte slot.
    expect(plan.slotOf.get(later.id)).toBe(0);
  });

  it('inputs, outputs, constants and the step state never go in slots', () => {
    const b = new GraphBuilder(CAPS, 'f32', true);
    const x = b.input('x', [16]);
    const k = b.constant('k', [16], 'f32', new Float32Array(16));
    const t = b.tap('tapped', unary(b, 'silu', x));
    const y = b.output('y', binary(b, 'add', t, k));
    b.stepState();
    const plan = planBufferSlots(b, 'f32');
    for (const v of [x, k, t, y]) expect(plan.slotOf.has(v.id), v.label).toBe(false);
    expect(plan.slotBytes).toEqual([]);
  });

  it('act values take 2 bytes an element at f16 (rounded up to 4), f32 and u32 values 4 in every precision', () => {
    const b = new GraphBuilder(CAPS, 'f16');
    expect(valueBytes(b.temp([7], 'a'), 'f16')).toBe(16);
    expect(valueBytes(b.temp([7], 'a'), 'f32')).toBe(28);
    expect(valueBytes(b.temp([7], 'f', 'f32'), 'f16')).toBe(28);
    expect(valueBytes(b.temp([7], 'u', 'u32'), 'f16')).toBe(28);
    let v: Value = b.input('x', [10]);
    for (let i = 0; i < 3; i++) v = unary(b, 'silu', v);
    b.output('y', v);
    expect(planBufferSlots(b, 'f16').slotBytes).toEqual([20, 20]);
  });

  it('for random graphs, no two temps whose lifetimes overlap share a slot, and every slot holds its tenants', () => {
    // A graph: each op reads one or two earlier values (by index) and makes a new one of a random size.
    const opArb = fc.record({ a: fc.nat(), b: fc.option(fc.nat(), { nil: undefined }), size: fc.integer({ min: 1, max: 64 }), keep: fc.boolean() });
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), fc.constantFrom('f32' as const, 'f16' as const), (ops, precision) => {
        const b = new GraphBuilder(CAPS, precision);
        const values: Value[] = [b.input('x', [64])];
        for (const op of ops) {
          const x = values[op.a % values.length]!;
          // Elementwise ops keep x's shape; a second operand must divide it, so use a 1-element one or x itself.
          const y = op.b === undefined ? null : values[op.b % values.length]!;
          const v = y && y.shape[0] === x.shape[0] ? binary(b, 'add', x, y) : unary(b, 'silu', x);
          values.push(v);
          if (op.keep) b.output(`out${values.length}`, v);
          if (op.size % 5 === 0) values.push(unary(b, 'silu', b.input(`in${values.length}`, [op.size])));
        }
        const plan = planBufferSlots(b, precision);
        const spans = lifetimes(b);
        expect([...plan.slotOf.keys()].sort((p, q) => p - q)).toEqual([...spans.keys()].sort((p, q) => p - q));
        const temps = [...spans.entries()];
        for (const [id, slot] of plan.slotOf) expect(plan.slotBytes[slot]).toBeGreaterThanOrEqual(valueBytes(b.values[id]!, precision));
        for (let i = 0; i < temps.length; i++) {
          for (let j = i + 1; j < temps.length; j++) {
            const [p, [ps, pe]] = temps[i]!;
            const [q, [qs, qe]] = temps[j]!;
            if (plan.slotOf.get(p) === plan.slotOf.get(q)) expect(pe < qs || qe < ps, `values ${p} and ${q} share slot ${plan.slotOf.get(p)}`).toBe(true);
          }
        }
      }),
      { seed: 13, numRuns: 300 },
    );
  });
});
