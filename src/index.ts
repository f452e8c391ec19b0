// mmdit-webgpu: the platform-neutral engine (browsers and any WebGPU host). Re-exports only.
export * from './errors.js';
export { GpuContext, type AcquireOptions } from './gpu/device.js';
export type { DeviceCaps } from './gpu/features.js';
export type { EngineLimits } from './gpu/limits.js';
export { MemoryTracker } from './gpu/memory.js';
export { Profiler, type KernelTiming } from './runtime/profiler.js';
export { BufferPool } from './gpu/buffer-pool.js';
export { PipelineCache } from './shader/pipeline-cache.js';
export type { KernelSpec, Precision, Variant, WgslModule } from './shader/contract.js';
export { GraphBuilder, type Value } from './graph/builder.js';
export { compileGraph } from './graph/compile.js';
export { CompiledGraph } from './graph/compiled-graph.js';
export { linear, type LinearOptions, type MatmulEpilogue } from './kernels/matmul.js';
export { unary, binary } from './kernels/elementwise.js';
export { attention, seq, type SeqOperand, type AttentionOptions } from './kernels/attention.js';
export { layerNorm, layerNormModulate } from './kernels/layer-norm.js';
export { rmsNorm } from './kernels/rms-norm.js';
export type { GpuTensor, StorageFormat } from './tensor/tensor.js';
export { readTensor } from './tensor/read.js';
export { runSelfCheck, type SelfCheckResult } from './selfcheck.js';
export * from './text/index.js';

// Models (advanced API: load components, compile per shape, run on tensors you provide).
export { loadDenoiser, Denoiser, DenoiserGraph, MAX_STEPS, canonicalizeMmdit, detectLayout, type MmditConfig, type DenoiserShape, type LoadDenoiserOptions } from './models/mmdit/index.js';
export { ClipTextEncoder, openClipCheckpoint, type ClipConfig, type ClipEncoding } from './models/clip/index.js';
export { T5TextEncoder, openT5Checkpoint, type T5Config, type T5Encoding } from './models/t5/index.js';
export { encodeConditioning, stackTokens, padT5Rows, assembleConditioning, type Conditioning } from './models/conditioning.js';
export { Vae, openVaeCheckpoint, type VaeConfig, type RgbaImage } from './models/vae/index.js';
export { uploadWeights, releaseWeights, type WeightMap } from './models/upload.js';

// Sampling.
export { sample, type SampleOptions } from './sampling/sample.js';
export { sd3Sigmas, denoiseSigmas, shiftedSigma, timestepFeatures, DEFAULT_SHIFT } from './sampling/schedule.js';
export { gaussianNoise, philox4x32 } from './sampling/noise.js';

// Weights: sources, readers, manifests, loading and the shard cache.
export type { TensorSource, TensorInfo, TensorDtype } from './weights/tensor-source.js';
export { bytesSource, blobSource, httpSource, type ByteSource } from './weights/byte-source.js';
export { openSafetensors, openSafetensorsSet } from './weights/safetensors.js';
export { openOnnx } from './weights/onnx.js';
export { parseManifest, parseCatalogue, type ModelManifest, type Catalogue } from './weights/manifest.js';
export { manifestSource } from './weights/manifest-source.js';
export { loadShards } from './weights/loader.js';
export { createComponentUploader, type ComponentUploader } from './weights/upload.js';
export { openShardCache, listCachedModels, cacheUsage, requestPersistence, deleteModel, clearCache } from './weights/cache.js';
export { quantizeQ8, quantizeQ4, dequantizeQ8, dequantizeQ4 } from './weights/quantize.js';
