import { describe, expect, it } from 'vitest';
import { LimitExceededError } from '../../../src/errors.js';
import type { DeviceCaps } from '../../../src/gpu/features.js';
import type { ModelFacts } from '../../../src/pipeline/model.js';
import { resolveGenerate } from '../../../src/pipeline/validate.js';

// An SD3-Medium-like denoiser (patch 2, hidden 1536, MLP 6144) at 128×128: 64 image tokens, so the
// context rows are the widest activation of the binding estimate.
const facts = {
  mmdit: { patch: 2, hidden: 1536, mlpHidden: 6144, frequencyDim: 256 },
  vaeScale: 8,
  hasT5: true,
  t5Rows: 77,
  defaults: { width: 128, height: 128, numInferenceSteps: 8, guidanceScale: 5, shift: 3 },
  maxSize: 1024,
} as unknown as ModelFacts;
// 8 rows (4 images with CFG) × 78 context rows × 6144 × 2 bytes fit in 8 MiB; 154 rows do not.
const caps = { maxStorageBufferBindingSize: 8 * 1024 * 1024 } as DeviceCaps;
const request = { prompt: 'x', numImagesPerPrompt: 4 };

describe('resolveGenerate: the binding guard counts the context rows the forward runs', () => {
  it('without T5, one collapsed zero row: 78 context rows', () => {
    expect(resolveGenerate(request, facts, caps, false, 'f16').images).toBe(4);
  });

  it('with T5, CLIP’s 77 and T5’s 77 or more', () => {
    expect(() => resolveGenerate(request, facts, caps, true, 'f16')).toThrow(LimitExceededError);
  });
});
