import type { Precision } from '../shader/contract.js';
import { type GraphBuilder, isValue, type Value, valueBytes } from './builder.js';

export interface SlotPlan {
  /** Byte size of each shared slot buffer (the largest of its tenants). */
  readonly slotBytes: readonly number[];
  /** Slot index of every temp value (by value id). */
  readonly slotOf: ReadonlyMap<number, number>;
}

/**
 * Assigns temps to shared buffers: lifetimes [first def, last use] in op order, then greedy by
 * size (largest first, reusing any slot free over the whole interval; arXiv 2001.03288). Two
 * values that meet in one dispatch always overlap, so a buffer is never both read and written by
 * one dispatch through different values.
 */
export function planBufferSlots(graph: GraphBuilder, precision: Precision): SlotPlan {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  graph.ops.forEach((op, index) => {
    for (const operand of op.bindings) {
      if (!isValue(operand) || operand.kind !== 'temp') continue;
      if (!first.has(operand.id)) first.set(operand.id, index);
      last.set(operand.id, index);
    }
  });
  const temps = [...first.keys()]
    .map((id) => graph.values[id] as Value)
    .sort((a, b) => valueBytes(b, precision) - valueBytes(a, precision) || a.id - b.id);
  const slotBytes: number[] = [];
  const tenants: { start: number; end: number }[][] = [];
  const slotOf = new Map<number, number>();
  for (const value of temps) {
    const start = first.get(value.id) as number;
    const end = last.get(value.id) as number;
    let slot = tenants.findIndex((list) => list.every((t) => t.end < start || t.start > end));
    if (slot < 0) {
      slot = tenants.length;
      tenants.push([]);
      slotBytes.push(0);
    }
    tenants[slot]?.push({ start, end });
    slotBytes[slot] = Math.max(slotBytes[slot] ?? 0, valueBytes(value, precision));
    slotOf.set(value.id, slot);
  }
  return { slotBytes, slotOf };
}
