/**
 * The A1111 "parameters" text that image tools read from a PNG's tEXt chunk:
 *   <prompt>
 *   Negative prompt: <negative prompt>
 *   Steps: 28, CFG scale: 7, Seed: 42, Size: 1024x1024, Model: sd3-medium, …
 * The negative prompt line is always present, empty or not, so readers need no special case.
 */
export interface ParameterRecord {
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly steps: number;
  readonly guidanceScale: number;
  readonly seed: number;
  readonly width: number;
  readonly height: number;
  readonly model: string;
  readonly shift?: number;
  readonly sampler?: string;
  readonly strength?: number;
  readonly variant?: string;
}

/** Keeps the record one line per field: newlines inside a prompt become spaces. */
function oneLine(text: string): string {
  return text.replace(/\r\n|\r|\n/g, ' ');
}

export function formatParameters(p: ParameterRecord): string {
  const fields: [string, string | number][] = [
    ['Steps', p.steps],
    ['Sampler', p.sampler ?? 'Euler (flow)'],
    ['CFG scale', p.guidanceScale],
    ['Seed', p.seed],
    ['Size', `${p.width}x${p.height}`],
    ['Model', p.model],
  ];
  if (p.variant !== undefined) fields.push(['Variant', p.variant]);
  if (p.shift !== undefined) fields.push(['Shift', p.shift]);
  if (p.strength !== undefined) fields.push(['Denoising strength', p.strength]);
  return `${oneLine(p.prompt)}\nNegative prompt: ${oneLine(p.negativePrompt)}\n${fields.map(([k, v]) => `${k}: ${v}`).join(', ')}`;
}

/** Reads a parameters text back (the fields as strings), e.g. for "reuse settings". */
export function parseParameters(text: string): { prompt: string; negativePrompt: string; fields: Record<string, string> } {
  const lines = text.split('\n');
  const negAt = lines.findIndex((l) => l.startsWith('Negative prompt:'));
  const prompt = lines.slice(0, negAt < 0 ? lines.length - 1 : negAt).join('\n');
  const negativePrompt = negAt < 0 ? '' : (lines[negAt] as string).slice('Negative prompt:'.length).trimStart();
  const fields: Record<string, string> = {};
  for (const part of (lines[lines.length - 1] ?? '').split(/, (?=[A-Z][\w ]*: )/)) {
    const at = part.indexOf(': ');
    if (at > 0) fields[part.slice(0, at)] = part.slice(at + 2);
  }
  return { prompt, negativePrompt, fields };
}
