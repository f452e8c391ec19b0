import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { binary, unary, type UnaryOp } from '../../../src/kernels/elementwise.js';
import { expectClose } from '../../reference/compare.js';
import { geluErf, geluTanh, quickGelu, silu } from '../../reference/ops.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { runGraph } from '../../setup/run-graph.js';

/**
 * A dense grid over [−12, 12] (every branch of erf_approx: |x/√2| < 0.5, [0.5, 4) and beyond, and
 * the saturation of tanh's exp form) plus zeros, tiny and large magnitudes.
 */
const GRID = Float32Array.from({ length: 4801 }, (_, i) => -12 + i * 0.005);
const SPECIAL = new Float32Array([0, -0, 1e-30, -1e-30, 1e-7, -1e-7, 30, -30, 80, -80, 0.5 * Math.SQRT2, 4 * Math.SQRT2, -4 * Math.SQRT2]);
const X = new Float32Array([...GRID, ...SPECIAL]);

/**
 * f64 references and the absolute error allowed against them on SwiftShader, whose exp has 1.1e-6
 * relative error: erf-GELU (CLIP-G) within 2e-6 absolute; the others within 2e-6 + 2e-6·|y|.
 */
const UNARY: readonly { op: UnaryOp; ref: (x: number) => number; tol: { atol: number; rtol: number } }[] = [
  { op: 'gelu_erf', ref: geluErf, tol: { atol: 2e-6, rtol: 0 } },
  { op: 'gelu_tanh', ref: geluTanh, tol: { atol: 2e-6, rtol: 2e-6 } },
  { op: 'silu', ref: silu, tol: { atol: 2e-6, rtol: 2e-6 } },
  { op: 'quick_gelu', ref: quickGelu, tol: { atol: 2e-6, rtol: 2e-6 } },
  { op: 'copy', ref: (x) => x, tol: { atol: 0, rtol: 0 } },
];

describe('elementwise kernels', () => {
  for (const { op, ref, tol } of UNARY) {
    it(`${op} matches the f64 reference over [−12, 12] and special values (atol ${tol.atol}, rtol ${tol.rtol})`, async () => {
      const gpu = await testGpu();
      const out = await runGraph(gpu, `elementwise ${op}`, (b) => void b.output('y', unary(b, op, b.input('x', [X.length]))), { x: X });
      const expected = Float64Array.from(X, ref);
      let worst = 0;
      for (let i = 0; i < X.length; i++) worst = Math.max(worst, Math.abs((out.y![i] as number) - (expected[i] as number)));
      console.log(`${op}: max |error| ${worst.toExponential(2)} over ${X.length} inputs`);
      expectClose(out.y!, expected, tol, op);
    });
  }

  it('affine computes alpha·x + beta', async () => {
    const gpu = await testGpu();
    const x = randomArray(300, 1);
    const out = await runGraph(gpu, 'elementwise affine', (b) => void b.output('y', unary(b, 'affine', b.input('x', [300]), { alpha: -1.5, beta: 0.25 })), { x });
    expectClose(out.y!, Float64Array.from(x, (v) => -1.5 * v + 0.25), { atol: 1e-7, rtol: 1e-7 }, 'affine');
  });

  for (const op of ['add', 'mul'] as const) {
    it(`${op} of a [5, 7, 6] tensor with a same-shape operand and with a per-channel row of 6`, async () => {
      const gpu = await testGpu();
      const n = 5 * 7 * 6;
      const x = randomArray(n, 2);
      const full = randomArray(n, 3);
      const row = randomArray(6, 4);
      const out = await runGraph(
        gpu,
        `elementwise ${op}`,
        (b) => {
          const xv = b.input('x', [5, 7, 6]);
          b.output('full', binary(b, op, xv, b.input('full', [5, 7, 6])));
          b.output('row', binary(b, op, xv, b.input('row', [6])));
        },
        { x, full, row },
      );
      const f = op === 'add' ? (a: number, c: number) => a + c : (a: number, c: number) => a * c;
      expectClose(out.full!, Float64Array.from(x, (v, i) => f(v, full[i] as number)), { atol: 1e-7, rtol: 1e-7 }, `${op} full`);
      expectClose(out.row!, Float64Array.from(x, (v, i) => f(v, row[i % 6] as number)), { atol: 1e-7, rtol: 1e-7 }, `${op} row`);
    });
  }

  it('a grid past 65535 workgroups along x folds into y and still covers every element', async () => {
    const gpu = await testGpu();
    const n = 65536 * 64 + 100; // 65538 workgroups of 64
    const x = Float32Array.from({ length: n }, (_, i) => (i % 1000) - 500);
    const out = await runGraph(gpu, 'elementwise folded grid', (b) => void b.output('y', unary(b, 'affine', b.input('x', [n]), { alpha: 2, beta: 1 })), { x });
    let bad = -1;
    for (let i = 0; i < n && bad < 0; i++) if (out.y![i] !== 2 * (x[i] as number) + 1) bad = i;
    expect(bad).toBe(-1);
  });

  it('an operand whose size does not divide the tensor is an InvalidArgumentError before any GPU work', async () => {
    const { ctx } = await testGpu();
    const b = new GraphBuilder(ctx.caps, 'f32');
    expect(() => binary(b, 'add', b.input('x', [4, 6]), b.input('y', [5]))).toThrow(InvalidArgumentError);
    expect(b.ops).toHaveLength(0);
  });
});
