import { describe, expect, it } from 'vitest';
import { contextRows } from '../../../src/pipeline/model.js';

describe('the denoiser context rows of a generation', () => {
  it('follow CLIP with T5 tokens; without T5, one zero row stands for the manifest’s rows', () => {
    expect(contextRows(77, 77)).toEqual({ t5Tokens: 77, shape: { contextLength: 154 } });
    expect(contextRows(12, 77)).toEqual({ t5Tokens: 12, shape: { contextLength: 89 } });
    expect(contextRows(null, 77)).toEqual({ t5Tokens: 1, shape: { contextLength: 78, lastContextRowCount: 77 } });
    expect(contextRows(null, 256)).toEqual({ t5Tokens: 1, shape: { contextLength: 78, lastContextRowCount: 256 } });
    // Nothing to collapse: one zero row, or none.
    expect(contextRows(null, 1)).toEqual({ t5Tokens: 1, shape: { contextLength: 78 } });
    expect(contextRows(null, 0)).toEqual({ t5Tokens: 0, shape: { contextLength: 77 } });
  });
});
