/** Typed errors of the world's tools: what was wrong, with which input, and what is allowed. */
import { MmditError } from '../../src/errors.js';

/** A scene cannot be drawn as asked (too many objects, a held-out pair in training mode, no layout). */
export class SceneSamplingError extends MmditError {
  constructor(message: string) {
    super('WORLD_SCENE', message);
  }
}

/** A prompt that is not one of the world's six templates, or template parts that do not fit. */
export class CaptionError extends MmditError {
  constructor(message: string) {
    super('WORLD_CAPTION', message);
  }
}

/** An image the detector cannot read (size, byte count). */
export class DetectorInputError extends MmditError {
  constructor(message: string) {
    super('WORLD_IMAGE', message);
  }
}

/** Bad arguments or inputs of the evaluation and round-trip tools. */
export class EvalUsageError extends MmditError {
  constructor(message: string) {
    super('EVAL_USAGE', message);
  }
}

/** The evaluation cannot get its pictures: no engine entry point, or a picture file missing. */
export class EvalSourceError extends MmditError {
  constructor(message: string) {
    super('EVAL_SOURCE', message);
  }
}
