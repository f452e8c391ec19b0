// mmdit-webgpu/node: everything of the universal entry plus Dawn, files and the CLI's pieces.
export * from '../index.js';
export { createNodeGpu, SWIFTSHADER_ICD, type NodeGpu, type NodeGpuOptions } from './dawn.js';
export { fileSource } from './file-source.js';
export { openDirectoryCache } from './fs-cache.js';
export { localManifest, localManifestComponent, fileShardReader } from './local-manifest.js';
export { openWeightsPath, openWeightsFile, openWeightsComponent } from './weights-source.js';
// The pipeline with Dawn, paths and a directory cache; PNGs compressed with zlib.
export { createPipeline, planMemory, packageCatalogue, type NodePipelineOptions } from './pipeline.js';
export { encodePngFile } from './png.js';
