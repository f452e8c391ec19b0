import type { GpuTensor } from '../tensor/tensor.js';

/**
 * Canonical tensor name → tensor, as the models' graph emission reads weights. The runtime's
 * WeightMap (the one uploader's result) implements it; models never upload anything.
 */
export type WeightMap = ReadonlyMap<string, GpuTensor>;
