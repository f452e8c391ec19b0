import type { DeviceCaps } from '../gpu/features.js';

export type Precision = 'f32' | 'f16';

/** One WGSL file: its path under shaders/ (for error messages) and its text. */
export interface WgslModule {
  readonly file: string;
  readonly code: string;
}

/**
 * One binding of a kernel, in binding order. `read`: `var<storage, read>`; `write` and
 * `readwrite`: `var<storage, read_write>` (write-only outputs and in-place updates). The uniform
 * `params` binding is implicit and always last.
 */
export interface BindingSpec {
  readonly name: string;
  readonly access: 'read' | 'write' | 'readwrite';
}

export type UniformType = 'u32' | 'i32' | 'f32';
export type UniformField = readonly [name: string, type: UniformType];

/**
 * The code-changing choices of one launch: everything here enters the pipeline cache key, and
 * nothing else may change the code. Shapes, strides, offsets, eps and scales are run data and go
 * in `params` instead.
 */
export interface Variant {
  readonly precision: Precision;
  readonly constants: Readonly<Record<string, number>>;
}

export type Dims3 = readonly [number, number, number];

export interface LaunchPlan {
  readonly params: Readonly<Record<string, number>>;
  readonly workgroups: Dims3;
}

/**
 * A kernel declaration: its WGSL (lib modules then the entry file), bindings, uniform layout
 * (mirrors the shader's `struct Params`, field for field), how arguments choose a variant, and how
 * they become uniforms and a grid.
 */
export interface KernelSpec<Args> {
  readonly name: string;
  readonly sources: readonly WgslModule[];
  readonly bindings: readonly BindingSpec[];
  readonly params: readonly UniformField[];
  variant(args: Args, caps: DeviceCaps, precision: Precision): Variant;
  plan(args: Args, variant: Variant): LaunchPlan;
}

/** The pipeline cache key: derived from the variant, never written by hand. */
export function pipelineKey(name: string, variant: Variant): string {
  const constants = Object.keys(variant.constants)
    .sort()
    .map((k) => `${k}=${variant.constants[k]}`)
    .join(',');
  return `${name}/${variant.precision}/${constants}`;
}

/** Grid for `count` workgroups along x, folded into y past the per-dimension limit. */
export function foldedGrid(count: number, maxPerDimension = 65535): Dims3 {
  if (count <= maxPerDimension) return [Math.max(1, count), 1, 1];
  const x = maxPerDimension;
  return [x, Math.ceil(count / x), 1];
}
