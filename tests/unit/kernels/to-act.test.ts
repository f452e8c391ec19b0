import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { toAct } from '../../../src/kernels/to-act.js';
import { fromHalf, toHalf } from '../../../src/tensor/half.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { runGraph } from '../../setup/run-graph.js';

/** f32 → the compute precision on the GPU: the conditioning hand-off into an f16 denoiser. */
const HAS_F16 = (await testGpu()).ctx.caps.f16;

describe('to_act', () => {
  it('copies f32 values exactly in an f32 graph (ragged tail past the last workgroup)', async () => {
    const gpu = await testGpu();
    const x = randomArray(200, 3, -5, 5);
    const out = await runGraph(gpu, 'to_act f32', (b) => void b.output('y', toAct(b, b.input('x', [2, 100], 'f32'))), { x });
    expect(out.y).toEqual(x);
  });

  it.skipIf(!HAS_F16)('rounds to the nearest f16 in an f16 graph (skipped: adapter lacks shader-f16)', async () => {
    const gpu = await testGpu();
    const x = randomArray(130, 4, -100, 100);
    const out = await runGraph(gpu, 'to_act f16', (b) => void b.output('y', toAct(b, b.input('x', [130], 'f32'))), { x }, 'f16');
    expect(out.y).toEqual(fromHalf(toHalf(x)));
  });

  it('rejects a destination of another size', async () => {
    const gpu = await testGpu();
    const b = new GraphBuilder(gpu.ctx.caps, 'f32');
    expect(() => toAct(b, b.input('x', [8], 'f32'), b.temp([4], 'small'))).toThrow(InvalidArgumentError);
  });
});
