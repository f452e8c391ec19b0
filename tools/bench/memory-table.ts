/**
 * The planned GPU memory of the released denoisers (planDenoiserMemory: the recorded graph and the
 * compiler's slot plan, no weights), for the bench output and the README.
 */
import { type DenoiserMemoryPlan, planDenoiserMemory, type WeightVariant } from '../../src/models/mmdit/memory-plan.js';
import { SD3_CONTEXT_LENGTH, SD3_MEDIUM, SD35_LARGE } from '../../src/models/mmdit/presets.js';

export interface MemoryRow extends DenoiserMemoryPlan {
  readonly model: string;
  readonly pixels: number;
  readonly variant: WeightVariant;
}

export function memoryTable(): MemoryRow[] {
  const rows: MemoryRow[] = [];
  for (const [model, config] of [['SD3-Medium', SD3_MEDIUM], ['SD3.5-Large', SD35_LARGE]] as const) {
    for (const pixels of [512, 1024]) {
      for (const variant of ['f16', 'int8', 'int4'] as const) {
        const shape = { batch: 1, cfg: true, latentHeight: pixels / 8, latentWidth: pixels / 8, contextLength: SD3_CONTEXT_LENGTH };
        rows.push({ model, pixels, variant, ...planDenoiserMemory(config, shape, { variant }) });
      }
    }
  }
  return rows;
}

const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(2);
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

export function printMemoryTable(rows: readonly MemoryRow[], log: (line: string) => void = console.log): void {
  log(`| model | image | weights | weights GiB | activations MiB | other MiB | peak GiB | largest binding MiB |`);
  log(`|---|---|---|---:|---:|---:|---:|---:|`);
  for (const r of rows) {
    log(`| ${r.model} | ${r.pixels}² | ${r.variant} | ${gib(r.weightBytes)} | ${mib(r.activationBytes)} | ${mib(r.positionBytes + r.ioBytes)} | ${gib(r.peakBytes)} | ${(r.largestBindingBytes / 2 ** 20).toFixed(1)} |`);
  }
}
