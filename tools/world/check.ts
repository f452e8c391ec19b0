/**
 * One call for code that holds a picture and its prompt (the evaluation, the browser end-to-end test,
 * the renderer cross-checks): detect, then judge by GenEval's rules.
 */
import { parsePrompt, type PromptSpec } from './captions.js';
import { detect, type Detection, type DetectorOptions, type ImageBytes } from './detector.js';
import { scoreImage } from './score.js';

export interface PromptCheck {
  spec: PromptSpec;
  correct: boolean;
  reasons: string[];
  detections: Detection[];
}

/** Whether an image (RGB or RGBA bytes) shows what a world prompt asks for. */
export function checkImage(prompt: string | PromptSpec, image: ImageBytes, options?: DetectorOptions): PromptCheck {
  const spec = typeof prompt === 'string' ? parsePrompt(prompt) : prompt;
  const detections = detect(image, options);
  const { correct, reasons } = scoreImage(spec, detections);
  return { spec, correct, reasons, detections };
}
