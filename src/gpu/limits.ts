import { InvalidArgumentError, LimitExceededError } from '../errors.js';

/** Engine-side caps, below the device's: tests use them to force splitting on any adapter. */
export interface EngineLimits {
  readonly maxStorageBufferBindingSize?: number;
  readonly maxBufferSize?: number;
}

/** The limits the engine asks for: the adapter's maxima for what large models need. */
export function requiredLimits(adapter: GPUAdapter): Record<string, number> {
  const a = adapter.limits;
  return {
    maxBufferSize: a.maxBufferSize,
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
  };
}

/** The device's limit, lowered to the caller's cap if one is given (never raised). */
export function effectiveLimit(deviceValue: number, cap: number | undefined, name: string): number {
  if (cap === undefined) return deviceValue;
  if (!Number.isInteger(cap) || cap < 1024) {
    throw new InvalidArgumentError(`limits.${name}`, 'an integer of at least 1024 bytes', cap);
  }
  return Math.min(deviceValue, cap);
}

/** Throws LimitExceededError naming the limit when `required` exceeds it. */
export function checkLimit(limit: string, required: number, available: number, what: string): void {
  if (required > available) throw new LimitExceededError(limit, required, available, what);
}
