/** What to do about an error, in one sentence, by its type. */
export function suggestFix(error: unknown): string {
  const e = error as { code?: string; name?: string; parameter?: string; allowed?: string };
  switch (e?.code) {
    case 'WEBGPU_UNAVAILABLE':
      return 'use a browser with WebGPU (Chrome or Edge 113+, Safari 26+), served over https or localhost.';
    case 'LIMIT_EXCEEDED':
      return 'lower the size or the number of images; this GPU cannot bind buffers that large.';
    case 'GPU_OUT_OF_MEMORY':
      return 'lower the size or the number of images, or pick a smaller variant (int8/int4).';
    case 'DEVICE_LOST':
      return 'the GPU was reset; press Generate again (a new pipeline is made, weights come from the cache).';
    case 'SHARD_INTEGRITY':
      return 'a download was corrupted; clear the model cache below and generate again.';
    case 'MANIFEST':
    case 'FILE_FORMAT':
      return 'the model files could not be read; check that the model URL serves its manifest and shards (CORS, path).';
    case 'INVALID_ARGUMENT':
      return `change ${e.parameter ?? 'the setting'} to ${e.allowed ?? 'an allowed value'}.`;
    case 'PIPELINE_BUSY':
      return 'wait for the current picture, or cancel it.';
    default:
      return 'reload the page; if it happens again, open the Self-check tab to test this GPU.';
  }
}
