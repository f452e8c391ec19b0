import type { Runtime } from './runtime.js';
import type { WeightMap } from './weight-map.js';

export type ComponentKind = 'denoiser' | 'clip' | 't5' | 'vae';

/**
 * What the denoiser, the CLIP encoders, T5 and the VAE have in common: they are loaded onto a
 * runtime from a WeightMap or a source (`loadDenoiser`, `loadClipEncoder`, `loadT5Encoder`,
 * `loadVae`, each taking `WeightsInput`), compile one graph per shape into the runtime's graph
 * cache (a second `compile` of a shape returns the cached graph; two racing ones share one
 * compile), and `dispose` frees their graphs and — when they uploaded them — their weights.
 * Weights passed in as a WeightMap stay the caller's.
 */
export interface Component<Shape, Graph> extends Disposable {
  readonly kind: ComponentKind;
  readonly runtime: Runtime;
  readonly weights: WeightMap;
  compile(shape: Shape): Promise<Graph>;
  dispose(): void;
}
