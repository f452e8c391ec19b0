// mmdit-webgpu: what an app needs — a device, the runtime and its components (denoiser, CLIP, T5,
// VAE), conditioning, sampling, weights (sources, manifests, the one uploader, the shard cache),
// tokenizers and the typed errors. Graph builder, kernels, pipeline and buffer pools, profiler:
// `mmdit-webgpu/advanced`. Re-exports only.
export * from './errors.js';
export { GpuContext, type AcquireOptions } from './gpu/device.js';
export type { DeviceCaps } from './gpu/features.js';
export type { EngineLimits } from './gpu/limits.js';
export type { GpuTensor, StorageFormat } from './tensor/tensor.js';
export type { RgbaImage } from './tensor/image.js';
export { runSelfCheck, type SelfCheckResult } from './runtime/selfcheck.js';
export * from './text/index.js';

// The runtime and its components.
export { Runtime, createRuntime, type RuntimeOptions } from './runtime/runtime.js';
export { GraphCache, DEFAULT_GRAPH_CACHE_BYTES, type GraphCacheOptions, type CachedGraph } from './runtime/graph-cache.js';
export type { Component, ComponentKind } from './runtime/component.js';
export { loadDenoiser, Denoiser, type LoadDenoiserOptions } from './runtime/denoiser.js';
export { DenoiserGraph } from './runtime/denoiser-graph.js';
export { MAX_STEPS, checkDenoiserShape, type DenoiserShape, type MmditConfig } from './models/mmdit/index.js';
export { loadClipEncoder, ClipTextEncoder, type ClipShape } from './runtime/clip.js';
export type { ClipConfig, ClipEncoding, LoadClipOptions, EncodeClipOptions } from './models/clip/index.js';
export { loadT5Encoder, T5TextEncoder, type T5Shape } from './runtime/t5.js';
export type { T5Config, T5Encoding, LoadT5Options, EncodeT5Options } from './models/t5/index.js';
export { loadVae, Vae } from './runtime/vae.js';
export { VaeDecodeGraph, VaeEncodeGraph } from './runtime/vae-graphs.js';
export { LatentPreviewer, type LatentPreviewShape } from './runtime/preview.js';
export type { VaeConfig, VaeShape, VaeDecodeShape, LoadVaeOptions } from './models/vae/index.js';
export { conditionInto, encodeConditioning, type Conditioning, type ConditioningOptions, type TextEncoders } from './runtime/conditioning.js';
export { stackTokens, padT5Rows, type ConditioningTokens } from './models/conditioning.js';

// Sampling.
export { sample, type SampleOptions } from './runtime/sampler.js';
export { sd3Sigmas, denoiseSigmas, shiftedSigma, timestepFeatures, DEFAULT_SHIFT } from './sampling/schedule.js';
export { gaussianNoise, philox4x32 } from './sampling/noise.js';

// Weights: sources, readers, manifests, the one weights path and the shard cache.
export { WeightMap } from './runtime/weight-map.js';
export { loadModelWeights, uploadTensors, type ManifestWeights, type ManifestComponent, type ModelWeights, type WeightsInput } from './runtime/weights.js';
export type { TensorSource, TensorInfo, TensorDtype } from './weights/tensor-source.js';
export { bytesSource, blobSource, httpSource, type ByteSource } from './weights/byte-source.js';
export { openSafetensors, openSafetensorsSet } from './weights/safetensors.js';
export { openOnnx } from './weights/onnx.js';
export { parseManifest, parseCatalogue, type ModelManifest, type Catalogue, type ComponentName } from './weights/manifest.js';
export type { LoadEvent, DownloadProgress, LoadWarning, ShardReader } from './weights/loader.js';
export { openShardCache, listCachedModels, cacheUsage, requestPersistence, deleteModel, clearCache, type ShardCache, type CachedModel, type CacheUsage } from './weights/cache.js';

// Prompt → image: the pipeline, its progress events, parameters text and image helpers.
export { createPipeline, planMemory, planMemoryFor, formatParameters, parseParameters, encodePng, encodePngAsync, readPngText, toImageData, toPngBlob, drawToCanvas, SD3_DEFAULTS, MAX_IMAGES_PER_PROMPT, MAX_SEQUENCE_LENGTH, SIZE_STEP } from './pipeline/index.js';
export type { MemoryPlan, PhasePlan, PlanMemoryOptions, Pipeline, PipelineOptions, GenerateOptions, GenerateResult, PipelineInfo, ResolvedDefaults, Progress, ProgressPhase, Timings, PeakGpuBytes, BusyPolicy, CatalogueRef, ParameterRecord } from './pipeline/index.js';
