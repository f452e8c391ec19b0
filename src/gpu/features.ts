/** Optional features the engine uses when the adapter has them; none is required. */
export const OPTIONAL_FEATURES = ['shader-f16', 'timestamp-query', 'subgroups'] as const;
export type OptionalFeature = (typeof OPTIONAL_FEATURES)[number];

/** What kernels may specialise on: the code-changing facts about the device. */
export interface DeviceCaps {
  readonly f16: boolean;
  readonly subgroups: boolean;
  readonly timestampQuery: boolean;
  /** CPU emulation (SwiftShader, WARP): workgroup memory and barriers are expensive there. */
  readonly isFallbackAdapter: boolean;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  /** The engine's binding cap: the device's limit or a lower one the caller asked for. */
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
}
