import { InvalidArgumentError } from '../errors.js';
import type { UniformField } from './contract.js';

/** Byte size of a Params struct of 4-byte scalars, rounded to WGSL's 16-byte struct alignment. */
export function uniformBytes(fields: readonly UniformField[]): number {
  return Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
}

/** Packs `values` in the order of `fields` into `target` at `byteOffset`. */
export function packUniforms(
  kernel: string,
  fields: readonly UniformField[],
  values: Readonly<Record<string, number>>,
  target: DataView,
  byteOffset: number,
): void {
  fields.forEach(([name, type], i) => {
    const value = values[name];
    if (value === undefined || !Number.isFinite(value)) {
      throw new InvalidArgumentError(`${kernel}.params.${name}`, 'a finite number', value);
    }
    const at = byteOffset + i * 4;
    if (type === 'f32') target.setFloat32(at, value, true);
    else if (type === 'i32') target.setInt32(at, value, true);
    else {
      if (value < 0 || value > 0xffffffff || !Number.isInteger(value)) {
        throw new InvalidArgumentError(`${kernel}.params.${name}`, 'an unsigned 32-bit integer', value);
      }
      target.setUint32(at, value, true);
    }
  });
  for (const name of Object.keys(values)) {
    if (!fields.some(([f]) => f === name)) {
      throw new InvalidArgumentError(`${kernel}.params`, `fields ${fields.map(([f]) => f).join(', ')}`, name);
    }
  }
}
