import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { compileGraph } from '../../../src/graph/compile.js';
import { copyRows, stepRows } from '../../../src/kernels/copy-rows.js';
import type { RowLayout } from '../../../src/kernels/matmul.js';
import { randomArray } from '../../reference/random.js';
import { recordGpuRun, testGpu } from '../../setup/gpu.js';
import { runGraph } from '../../setup/run-graph.js';

function physical(r: number, l: RowLayout): number {
  return Math.floor(r / l.seg) * l.segRows + l.offset + (r % l.seg);
}

describe('copy_rows', () => {
  it('copies segmented rows into a joint sequence and zero-fills the padded columns', async () => {
    const gpu = await testGpu();
    // Two batch items of 5 tokens, width 7, placed after 3 tokens of each item's 11-row block,
    // columns 2..(2+13) of a width-17 destination, 7 copied and 6 zero-filled.
    const [batch, tokens, width, joint, dstWidth, cols] = [2, 5, 7, 11, 17, 13];
    const src = randomArray(batch * tokens * width, 1);
    const init = randomArray(batch * joint * dstWidth, 2, 5, 6);
    const layout: RowLayout = { seg: tokens, segRows: joint, offset: 3, col: 2, stride: dstWidth };
    const out = await runGraph(gpu, 'copy_rows joint', (b) => {
      const dst = b.input('dst', [batch, joint, dstWidth]);
      copyRows(b, { rows: batch * tokens, cols, src: { value: b.input('src', [batch, tokens, width]), cols: width }, into: { value: dst, layout } });
      b.output('dst', dst);
    }, { src, dst: init });
    const ref = Float32Array.from(init);
    for (let r = 0; r < batch * tokens; r++) {
      for (let c = 0; c < cols; c++) ref[physical(r, layout) * dstWidth + 2 + c] = c < width ? (src[r * width + c] as number) : 0;
    }
    expect([...out.dst!]).toEqual([...ref]);
  });

  it('reads a column window of a strided source and writes zeros when the source is null', async () => {
    const gpu = await testGpu();
    const [rows, srcWidth] = [9, 12];
    const src = randomArray(rows * srcWidth, 3);
    const out = await runGraph(gpu, 'copy_rows window', (b) => {
      const x = b.input('src', [rows, srcWidth]);
      b.output('win', copyRows(b, { rows, cols: 5, src: { value: x, layout: { seg: rows, segRows: rows, offset: 0, col: 4, stride: srcWidth } } }));
      b.output('zero', copyRows(b, { rows: 3, cols: 3, src: null }));
    }, { src });
    const ref = new Float32Array(rows * 5);
    for (let r = 0; r < rows; r++) for (let c = 0; c < 5; c++) ref[r * 5 + c] = src[r * srcWidth + 4 + c] as number;
    expect([...out.win!]).toEqual([...ref]);
    expect([...out.zero!]).toEqual(new Array(9).fill(0));
  });

  it('gathers one row per sequence by a per-row index (EOS selection)', async () => {
    const gpu = await testGpu();
    const [batch, seq, width] = [3, 77, 6];
    const src = randomArray(batch * seq * width, 4);
    const eot = new Uint32Array([5, 76, 0]);
    const out = await runGraph(gpu, 'copy_rows gather', (b) => {
      const x = b.input('src', [batch, seq, width]);
      const idx = b.input('eot', [batch], 'u32');
      b.output('pooled', copyRows(b, { rows: batch, cols: width, src: { value: x, layout: { seg: 1, segRows: seq, offset: 0, col: 0, stride: width } }, offsets: { mode: 'per-row', value: idx } }));
    }, { src, eot });
    const ref: number[] = [];
    for (let i = 0; i < batch; i++) for (let c = 0; c < width; c++) ref.push(src[(i * seq + (eot[i] as number)) * width + c] as number);
    expect([...out.pooled!]).toEqual(ref);
  });

  it('stepRows reads block `step` of a per-step table', async () => {
    const gpu = await testGpu();
    const [steps, rows, cols] = [4, 2, 5];
    const table = randomArray(steps * rows * cols, 5);
    const b = new GraphBuilder(gpu.ctx.caps, 'f32');
    b.output('row', stepRows(b, b.input('table', [steps, rows, cols])));
    const graph = await compileGraph(gpu.ctx, gpu.cache, b);
    try {
      gpu.ctx.write(graph.input('table').buffer, 0, table);
      for (const step of [2, 0, 3]) {
        graph.run(step);
        const got = new Float32Array(await gpu.ctx.read(graph.output('row').buffer, 0, rows * cols * 4));
        expect([...got]).toEqual([...table.subarray(step * rows * cols, (step + 1) * rows * cols)]);
      }
      recordGpuRun('copy_rows step');
    } finally {
      graph.dispose();
    }
  });
});
