// The MM-DiT as a pure description: configuration from tensor shapes, canonical keys, graph emission
// and shape checks. Loading and running it on the GPU is the runtime's (src/runtime/denoiser.ts).
export { deriveMmditConfig, expectedTensors, type MmditConfig } from './config.js';
export { canonicalizeMmdit, detectLayout, type CanonicalMmdit, type MmditLayout } from './keys.js';
export { MMDIT_IO, mmditForward } from './forward.js';
export { checkDenoiserShape, checkForwardInputs, denoiserShapeKey, MAX_STEPS, type DenoiserShape, type ForwardInputShapes } from './shape.js';
