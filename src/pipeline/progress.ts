import type { RgbaImage } from '../tensor/image.js';
import type { ComponentName } from '../weights/manifest.js';

/**
 * Everything a pipeline reports, as one discriminated union on `phase`. Download and denoise
 * events are throttled by their producers; `done` closes every successful generate.
 */
export type Progress =
  | {
      readonly phase: 'download';
      readonly component: ComponentName;
      readonly file: string;
      /** Over the components being loaded now. */
      readonly loadedBytes: number;
      readonly totalBytes: number;
      readonly fromCache: boolean;
    }
  | { readonly phase: 'warning'; readonly code: string; readonly message: string }
  | { readonly phase: 'compile'; readonly what: string; readonly done: number; readonly total: number }
  | { readonly phase: 'ready'; readonly model: string; readonly variant: string; readonly ms: number }
  | { readonly phase: 'text'; readonly encoder: 'clip_l' | 'clip_g' | 't5' }
  | {
      readonly phase: 'denoise';
      /** Steps finished (1…steps). */
      readonly step: number;
      readonly steps: number;
      /** Since the first step was submitted. */
      readonly elapsedMs: number;
      /** Latent previews of this step (one per image), when asked for; they arrive on their own event. */
      readonly preview?: readonly RgbaImage[];
    }
  | { readonly phase: 'decode'; readonly band: number; readonly bands: number }
  | { readonly phase: 'done'; readonly totalMs: number };

export type ProgressPhase = Progress['phase'];
