// mmdit-webgpu/worker: the pipeline in a Web Worker, with the same Pipeline interface.
export { createWorkerPipeline } from './client.js';
export { servePipeline } from './serve.js';
export type { FromWorker, MessageEndpoint, ToWorker, WorkerGenerateOptions, WorkerPipelineOptions } from './protocol.js';
