import type { GpuContext } from '../gpu/device.js';
import { checkLimit } from '../gpu/limits.js';
import type { Precision } from '../shader/contract.js';
import type { PipelineCache } from '../shader/pipeline-cache.js';
import { packUniforms } from '../shader/uniforms.js';
import { type GpuTensor, storageBytes } from '../tensor/tensor.js';
import { type GraphBuilder, isValue, type Operand, type Value, valueBytes } from './builder.js';
import { CompiledGraph, type Dispatch } from './compiled-graph.js';
import { planBufferSlots } from './plan.js';

/** One 256-byte uniform slot per dispatch (`minUniformBufferOffsetAlignment`). */
const UNIFORM_SLOT = 256;
const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

function tensorOfValue(value: Value, buffer: GPUBuffer, precision: Precision): GpuTensor {
  const format = value.type === 'act' ? precision : 'f32';
  return { buffer, offset: 0, shape: value.shape, format, label: value.label };
}

/**
 * Turns a recorded graph into a CompiledGraph: slots by lifetime, dedicated buffers for inputs,
 * outputs, taps and constants, all pipelines created in parallel, every Params packed into one
 * uniform buffer written once, one bind group per dispatch. Limits are checked before anything is
 * allocated.
 */
export interface CompileOptions {
  /**
   * Use this buffer (another compiled graph's `stepStateBuffer`) as the step state instead of a
   * new one, so graphs encoded into one pass per step share one `writeBuffer` per step.
   */
  readonly stepBuffer?: GPUBuffer | null;
}

export async function compileGraph(ctx: GpuContext, cache: PipelineCache, graph: GraphBuilder, options: CompileOptions = {}): Promise<CompiledGraph> {
  ctx.assertUsable();
  const precision = graph.precision;
  const maxBinding = ctx.caps.maxStorageBufferBindingSize;
  for (const value of graph.values) {
    checkLimit('maxStorageBufferBindingSize', valueBytes(value, precision), maxBinding, `graph value "${value.label}" ${JSON.stringify(value.shape)}`);
  }
  const variants = graph.ops.map((op) => op.spec.variant(op.args, graph.caps, precision));
  const plans = graph.ops.map((op, i) => op.spec.plan(op.args, variants[i]!));
  const kernels = await Promise.all(graph.ops.map((op, i) => cache.get(op.spec, variants[i]!)));

  const owned: GPUBuffer[] = [];
  const bufferOf = new Map<number, GPUBuffer>();
  const slots = planBufferSlots(graph, precision);
  const slotBuffers = slots.slotBytes.map((bytes, i) => ctx.createBuffer(`slot${i}`, bytes, USAGE()));
  owned.push(...slotBuffers);
  for (const [id, slot] of slots.slotOf) bufferOf.set(id, slotBuffers[slot]!);
  for (const value of graph.values) {
    if (value.kind === 'temp' || bufferOf.has(value.id)) continue;
    if (value.kind === 'step' && options.stepBuffer) {
      bufferOf.set(value.id, options.stepBuffer);
      continue;
    }
    const buffer = ctx.createBuffer(value.label, valueBytes(value, precision), USAGE());
    owned.push(buffer);
    bufferOf.set(value.id, buffer);
  }
  for (const [value, data] of graph.constants) ctx.write(bufferOf.get(value.id)!, 0, data);

  const uniformBuffer = ctx.createBuffer('uniforms', Math.max(1, graph.ops.length) * UNIFORM_SLOT, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  owned.push(uniformBuffer);
  const uniformData = new DataView(new ArrayBuffer(Math.max(1, graph.ops.length) * UNIFORM_SLOT));

  const binding = (operand: Operand): GPUBufferBinding => {
    if (operand === null) return { buffer: ctx.zeroBuffer, offset: 0, size: 16 };
    if (isValue(operand)) return { buffer: bufferOf.get(operand.id)!, offset: 0, size: valueBytes(operand, precision) };
    const size = storageBytes(operand.shape, operand.format);
    checkLimit('maxStorageBufferBindingSize', size, maxBinding, `weight "${operand.label}"`);
    return { buffer: operand.buffer, offset: operand.offset, size };
  };

  const dispatches: Dispatch[] = graph.ops.map((op, i) => {
    const kernel = kernels[i]!;
    const plan = plans[i]!;
    packUniforms(op.spec.name, op.spec.params, plan.params, uniformData, i * UNIFORM_SLOT);
    const entries: GPUBindGroupEntry[] = op.bindings.map((operand, b) => ({ binding: b, resource: binding(operand) }));
    entries.push({ binding: op.bindings.length, resource: { buffer: uniformBuffer, offset: i * UNIFORM_SLOT, size: Math.max(16, Math.ceil((op.spec.params.length * 4) / 16) * 16) } });
    const bindGroup = ctx.device.createBindGroup({ label: op.label, layout: kernel.layout, entries });
    return { label: op.label, pipeline: kernel.pipeline, bindGroup, workgroups: plan.workgroups };
  });
  ctx.write(uniformBuffer, 0, uniformData);
  try {
    await ctx.checkAllocations();
  } catch (error) {
    for (const buffer of owned) ctx.destroyBuffer(buffer);
    throw error;
  }

  const named = (map: ReadonlyMap<string, Value>) =>
    new Map([...map].map(([name, value]) => [name, tensorOfValue(value, bufferOf.get(value.id)!, precision)]));
  const step = [...graph.values].find((v) => v.kind === 'step');
  return new CompiledGraph(
    ctx,
    dispatches,
    named(graph.inputs),
    named(graph.outputs),
    named(graph.taps),
    step ? bufferOf.get(step.id)! : null,
    owned,
  );
}
