import type { SerializedError } from '../errors.js';
import type { Progress } from '../pipeline/progress.js';
import type { GenerateOptions, GenerateResult, PipelineInfo, PipelineOptions } from '../pipeline/types.js';

/**
 * Messages between `createWorkerPipeline` (the page) and `servePipeline` (the worker). Functions
 * and signals cannot cross, so progress comes back as messages and aborts go in as messages;
 * errors cross as `serializeError` objects and are rebuilt as the same classes.
 */

/** Pipeline options that survive structured clone. */
export type WorkerPipelineOptions = Omit<PipelineOptions, 'gpu' | 'onProgress' | 'signal'>;
export type WorkerGenerateOptions = Omit<GenerateOptions, 'onProgress' | 'signal'>;

export type ToWorker =
  | { readonly type: 'create'; readonly id: number; readonly options: WorkerPipelineOptions }
  | { readonly type: 'generate'; readonly id: number; readonly options: WorkerGenerateOptions }
  | { readonly type: 'abort'; readonly id: number; readonly reason: SerializedError }
  | { readonly type: 'dispose'; readonly id: number };

export type FromWorker =
  | { readonly type: 'progress'; readonly id: number; readonly event: Progress }
  | { readonly type: 'created'; readonly id: number; readonly info: PipelineInfo }
  | { readonly type: 'result'; readonly id: number; readonly result: GenerateResult }
  | { readonly type: 'disposed'; readonly id: number }
  | { readonly type: 'error'; readonly id: number; readonly error: SerializedError };

/** The part of Worker / MessagePort / DedicatedWorkerGlobalScope the protocol uses. */
export interface MessageEndpoint {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
}

/** The pixel buffers of images, to transfer rather than copy. */
export function imageBuffers(images: readonly { readonly data: Uint8ClampedArray }[] | undefined): Transferable[] {
  return (images ?? []).map((img) => img.data.buffer as ArrayBuffer);
}
