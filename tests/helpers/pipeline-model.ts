import { readFile, writeFile } from 'node:fs/promises';
import { buildTinyModel, type TinyModel, type TinyModelOptions } from './tiny-model.js';

/**
 * The tiny composable model (tiny-model.ts) with what a bundled model's manifest records for the
 * pipeline: defaults (64×64, few steps), preview factors and, without T5, its 77 zero rows.
 */
export const TINY_DEFAULTS = { width: 64, height: 64, steps: 3, guidanceScale: 4, shift: 3 } as const;

export async function buildPipelineModel(o: TinyModelOptions = {}): Promise<TinyModel> {
  const tiny = await buildTinyModel({ t5: false, ...o });
  const manifest = JSON.parse(await readFile(tiny.manifestPath, 'utf8')) as Record<string, unknown>;
  manifest['defaults'] = TINY_DEFAULTS;
  manifest['preview'] = { factors: Array.from({ length: 16 }, (_, c) => [((c % 3) - 1) * 0.3, ((c % 5) - 2) * 0.2, ((c % 7) - 3) * 0.1]), bias: [0.5, 0.5, 0.5] };
  if (o.t5 !== true) manifest['textEncoders'] = { t5: null, t5Rows: 77 };
  await writeFile(tiny.manifestPath, JSON.stringify(manifest, null, 2));
  return { ...tiny, manifest: manifest as unknown as TinyModel['manifest'] };
}
