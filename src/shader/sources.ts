import f16Prelude from '../../shaders/prelude/f16.wgsl?raw';
import f32Prelude from '../../shaders/prelude/f32.wgsl?raw';
import activationsWgsl from '../../shaders/lib/activations.wgsl?raw';
import dequantWgsl from '../../shaders/lib/dequant.wgsl?raw';
import indexWgsl from '../../shaders/lib/index.wgsl?raw';
import type { Precision, WgslModule } from './contract.js';

/**
 * The shared WGSL modules. Kernel files import their own entry shader with `?raw` next to their
 * descriptor, so Vite inlines every shader into the bundle and nothing is fetched at run time.
 */
export const PRELUDE: Readonly<Record<Precision, WgslModule>> = {
  f32: { file: 'prelude/f32.wgsl', code: f32Prelude },
  f16: { file: 'prelude/f16.wgsl', code: f16Prelude },
};

export const LIB = {
  activations: { file: 'lib/activations.wgsl', code: activationsWgsl },
  dequant: { file: 'lib/dequant.wgsl', code: dequantWgsl },
  index: { file: 'lib/index.wgsl', code: indexWgsl },
} as const satisfies Record<string, WgslModule>;

export function wgsl(file: string, code: string): WgslModule {
  return { file, code };
}
