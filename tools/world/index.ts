/**
 * The world's tools for other code (the evaluation, the Chromium end-to-end test, cross-checks).
 * Everything here runs in a browser as well as in Node; the Node-only pieces (PNG files, fixtures,
 * round trips) are imported from their own modules.
 */
export * from './world.js';
export { renderScene, rgbToRgba, shapeCoverage, samplesInside, insideShape } from './render.js';
export { Rng } from './random.js';
export { sampleScene, relationHolds, sceneLayoutValid, type SceneRequirements, type ObjectRequirement, type SamplingMode } from './scene.js';
export {
  parsePrompt,
  isHeldOut,
  isHeldOutSpec,
  isWorldPrompt,
  allPrompts,
  promptsFor,
  samplePrompt,
  toGenevalMetadata,
  type PromptSpec,
  type GenevalMetadata,
} from './captions.js';
export { detect, estimateBackground, type Detection, type DetectorOptions, type ImageBytes } from './detector.js';
export { scoreImage, evaluateMetadata, relativePosition, summarise, type ImageVerdict, type ScoreSummary } from './score.js';
export { checkImage, type PromptCheck } from './check.js';
export { matchScene, type SceneMatch } from './scene-match.js';
export { evaluationSet, validationSet, slotImages, promptFile, EVAL_SEED_BASE, VALIDATION_SEED_BASE, type EvalSlot, type EvalImage } from './eval-set.js';
export * from './errors.js';
