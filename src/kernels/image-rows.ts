import { InvalidArgumentError } from '../errors.js';
import type { Value } from '../graph/builder.js';

/**
 * Rows of a whole NHWC image (`height × width` pixels, `channels` per pixel) held by one value of
 * shape `[batch, rows·width, channels]`: buffer row `r − row0` holds global row r, for r in
 * `[row0, row0 + rows)`. A whole map is `{row0: 0, rows: height}`; a row band with halo rows
 * starts one row above its first own row. The image kernels (conv2d, group_norm, to_rgba...)
 * read and write through these views, so a map too large for one binding can live in bands.
 */
export interface ImageRows {
  readonly value: Value;
  readonly row0: number;
  readonly rows: number;
}

export function wholeImage(value: Value, height: number): ImageRows {
  return { value, row0: 0, rows: height };
}

/** Batch, width and channels of a view; checks the value's shape agrees with `rows`. */
export function viewDims(view: ImageRows, width: number, what: string): { batch: number; channels: number } {
  const [batch, pixels, channels] = view.value.shape as [number, number, number];
  if (view.value.shape.length !== 3 || pixels !== view.rows * width) {
    throw new InvalidArgumentError(`${what} shape`, `[batch, ${view.rows}·${width}, channels]`, view.value.shape);
  }
  return { batch, channels };
}

/** Throws unless global rows [first, first + count) lie inside the view. */
export function checkRowsInView(view: ImageRows, first: number, count: number, what: string): void {
  if (first < view.row0 || first + count > view.row0 + view.rows) {
    throw new InvalidArgumentError(`${what} rows`, `within [${view.row0}, ${view.row0 + view.rows})`, `[${first}, ${first + count})`);
  }
}
