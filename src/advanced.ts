// mmdit-webgpu/advanced: the engine's insides for custom models and tools — the kernel contract and
// pipeline cache, the graph builder and compiler, kernels as graph ops, the models' graph emission
// and checkpoint canonicalisation, the one uploader's parts, the shard loader, buffer pools, the
// profiler and quantisation. Everything of `mmdit-webgpu` is re-exported too.
export * from './index.js';
export { MemoryTracker } from './gpu/memory.js';
export { BufferPool } from './gpu/buffer-pool.js';
export { Profiler, type KernelTiming } from './runtime/profiler.js';
export { PipelineCache } from './shader/pipeline-cache.js';
export type { KernelSpec, Precision, Variant, WgslModule, BindingSpec, UniformField, LaunchPlan } from './shader/contract.js';
export { GraphBuilder, type Value, type Operand } from './graph/builder.js';
export { compileGraph, type CompileOptions } from './graph/compile.js';
export { CompiledGraph } from './graph/compiled-graph.js';
export { readTensor } from './tensor/read.js';
export { linear, type LinearOptions, type MatmulEpilogue } from './kernels/matmul.js';
export { unary, binary } from './kernels/elementwise.js';
export { attention, seq, type SeqOperand, type AttentionOptions } from './kernels/attention.js';
export { layerNorm, layerNormModulate } from './kernels/layer-norm.js';
export { rmsNorm } from './kernels/rms-norm.js';
export { copyRows } from './kernels/copy-rows.js';
export { toAct } from './kernels/to-act.js';
export { mmditForward, canonicalizeMmdit, detectLayout, checkForwardInputs, deriveMmditConfig, expectedTensors as expectedMmditTensors } from './models/mmdit/index.js';
export { clipForward, openClipCheckpoint, expectedClipTensors } from './models/clip/index.js';
export { t5Forward, openT5Checkpoint, expectedT5Tensors } from './models/t5/index.js';
export { vaeDecoderForward, vaeEncoderForward, openVaeCheckpoint, expectedVaeTensors, planBands } from './models/vae/index.js';
export { assembleConditioning } from './models/conditioning.js';
export { emitEulerUpdate, emitNoiseScaling } from './sampling/euler.js';
export { eulerGraph } from './runtime/sampler.js';
export { ComponentUpload } from './runtime/upload.js';
export { resolveWeights, describeManifest } from './runtime/weights.js';
export { bindFormat } from './weights/format-rule.js';
export { manifestSource } from './weights/manifest-source.js';
export { loadShards, type LoadShardsOptions, type VerifiedShard } from './weights/loader.js';
export { quantizeQ8, quantizeQ4, dequantizeQ8, dequantizeQ4 } from './weights/quantize.js';
