import type { MmditConfig } from './config.js';

/**
 * Configurations of the released SD3-family denoisers, as `deriveMmditConfig` reads them from
 * their checkpoints (MODEL_SPEC §2). Used to plan memory and bindings before any download.
 */
const common = { headDim: 64, patch: 2, inChannels: 16, outChannels: 16, contextDim: 4096, pooledDim: 2048, frequencyDim: 256 } as const;

export const SD3_MEDIUM: MmditConfig = {
  ...common, hidden: 1536, heads: 24, depth: 24, posEmbedMaxSize: 192, mlpHidden: 6144, qkNorm: false, dualAttentionLayers: [],
};

export const SD35_MEDIUM: MmditConfig = {
  ...common, hidden: 1536, heads: 24, depth: 24, posEmbedMaxSize: 384, mlpHidden: 6144, qkNorm: true,
  dualAttentionLayers: Array.from({ length: 13 }, (_, i) => i),
};

export const SD35_LARGE: MmditConfig = {
  ...common, hidden: 2432, heads: 38, depth: 38, posEmbedMaxSize: 192, mlpHidden: 9728, qkNorm: true, dualAttentionLayers: [],
};

export const MMDIT_PRESETS = { 'sd3-medium': SD3_MEDIUM, 'sd3.5-medium': SD35_MEDIUM, 'sd3.5-large': SD35_LARGE } as const;

/** Context tokens of the SD3 conditioning with 77 T5 tokens (77 CLIP + 77 T5). */
export const SD3_CONTEXT_LENGTH = 154;
