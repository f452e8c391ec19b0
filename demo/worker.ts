// The demo's pipeline worker: serves createWorkerPipeline with the browser pipeline (what
// `mmdit-webgpu/worker/entry` does in an app).
import { createPipeline } from '../src/pipeline/index.js';
import { type MessageEndpoint, servePipeline } from '../src/worker/index.js';

servePipeline(self as unknown as MessageEndpoint, createPipeline);
