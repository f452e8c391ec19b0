// mmdit-webgpu/worker/entry: import this module as (or from) a module worker's script; it serves
// the page's createWorkerPipeline with the browser pipeline.
import { createPipeline } from '../pipeline/index.js';
import type { MessageEndpoint } from './protocol.js';
import { servePipeline } from './serve.js';

servePipeline(globalThis as unknown as MessageEndpoint, createPipeline);
