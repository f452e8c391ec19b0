import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { WebGPUUnavailableError } from '../errors.js';

/** Debian's Chromium ships SwiftShader's Vulkan ICD here; it is the CPU fallback adapter. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface NodeGpuOptions {
  /** Extra Dawn toggles, e.g. `['enable-dawn-features=allow_unsafe_apis']`. */
  readonly dawnOptions?: readonly string[];
  /** Use SwiftShader when no Vulkan driver is installed (default true). */
  readonly swiftShaderFallback?: boolean;
}

export interface NodeGpu {
  readonly gpu: GPU;
  /** Which Vulkan driver list was used, for reports: 'system' or the ICD file path. */
  readonly driver: string;
  dispose(): void;
}

// Dawn aborts the process if the object `create()` returned is collected while its devices live
// (BASELINES.md), so every live one is held here until disposed.
const live = new Set<object>();

/**
 * A WebGPU `GPU` object for Node, backed by Dawn (the `webgpu` package). When the system's Vulkan
 * drivers give no adapter (no GPU, or only drivers Dawn rejects) and Chromium's SwiftShader ICD is
 * installed, `requestAdapter` falls back to a second Dawn instance over SwiftShader.
 */
export function createNodeGpu(options: NodeGpuOptions = {}): NodeGpu {
  let module: { create(options: string[]): GPU; globals: Record<string, unknown> };
  try {
    module = createRequire(import.meta.url)('webgpu') as typeof module;
  } catch (cause) {
    throw new WebGPUUnavailableError(
      'the "webgpu" package (Dawn for Node) could not be loaded; it needs libvulkan.so.1 (apt-get install -y libvulkan1)',
      { cause },
    );
  }
  for (const [name, value] of Object.entries(module.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  const dawnOptions = [...(options.dawnOptions ?? [])];
  const system = module.create(dawnOptions);
  live.add(system);
  let fallback: GPU | null = null;
  const state = { driver: 'system' };
  const canFallBack =
    options.swiftShaderFallback !== false &&
    !process.env.VK_ICD_FILENAMES &&
    !process.env.VK_DRIVER_FILES &&
    existsSync(SWIFTSHADER_ICD);
  const gpu = {
    get wgslLanguageFeatures() {
      return system.wgslLanguageFeatures;
    },
    getPreferredCanvasFormat: () => system.getPreferredCanvasFormat(),
    async requestAdapter(adapterOptions?: GPURequestAdapterOptions): Promise<GPUAdapter | null> {
      if (fallback) return fallback.requestAdapter(adapterOptions);
      const adapter = await system.requestAdapter(adapterOptions);
      if (adapter || !canFallBack) return adapter;
      // The Vulkan loader reads the ICD list when an instance is created, so a new instance sees it.
      process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
      fallback = module.create(dawnOptions);
      live.add(fallback);
      state.driver = SWIFTSHADER_ICD;
      return fallback.requestAdapter(adapterOptions);
    },
  } as GPU;
  return {
    gpu,
    get driver() {
      return state.driver;
    },
    dispose: () => {
      live.delete(system);
      if (fallback) live.delete(fallback);
    },
  };
}
