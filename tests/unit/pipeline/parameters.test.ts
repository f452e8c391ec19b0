import { describe, expect, it } from 'vitest';
import { formatParameters, parseParameters } from '../../../src/pipeline/parameters.js';

describe('A1111 parameters text', () => {
  const record = { prompt: 'a red circle', negativePrompt: '', steps: 20, guidanceScale: 4.5, seed: 42, width: 64, height: 48, model: 'mmdit-tiny' };

  it('always holds the prompt, a Negative prompt line, steps, guidance, seed, size and model', () => {
    const text = formatParameters(record);
    expect(text.split('\n')).toEqual(['a red circle', 'Negative prompt: ', 'Steps: 20, Sampler: Euler (flow), CFG scale: 4.5, Seed: 42, Size: 64x48, Model: mmdit-tiny']);
  });

  it('reads back what it wrote, newlines in prompts folded to spaces', () => {
    const text = formatParameters({ ...record, prompt: 'two\nlines', negativePrompt: 'blurry, dark', shift: 3 });
    const back = parseParameters(text);
    expect(back.prompt).toBe('two lines');
    expect(back.negativePrompt).toBe('blurry, dark');
    expect(back.fields).toMatchObject({ Steps: '20', 'CFG scale': '4.5', Seed: '42', Size: '64x48', Model: 'mmdit-tiny', Shift: '3' });
  });
});
