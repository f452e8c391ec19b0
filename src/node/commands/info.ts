import { GpuContext } from '../../gpu/device.js';
import { createNodeGpu } from '../dawn.js';
import { parseCommand } from '../args.js';

/** `mmdit-webgpu info`: the adapter, its features and the limits the engine would use. */
export const INFO_USAGE = `usage: info [--json]
Shows the WebGPU adapter, its features and the limits the engine uses.
Exit status: 0 shown, 1 no adapter, 2 bad usage.`;

export async function runInfo(argv: readonly string[]): Promise<number> {
  let json: boolean;
  try {
    const args = parseCommand(argv, { json: { type: 'boolean' } });
    if (args === 'help') {
      console.log(INFO_USAGE);
      return 0;
    }
    json = args.values.json === true;
  } catch (error) {
    console.error(`info: ${(error as Error).message}\n${INFO_USAGE}`);
    return 2;
  }
  const node = createNodeGpu();
  const ctx = await GpuContext.acquire({ gpu: node.gpu });
  try {
    const info = {
      adapter: ctx.adapterInfo,
      driver: node.driver,
      features: [...ctx.device.features].sort(),
      caps: ctx.caps,
    };
    if (json) console.log(JSON.stringify(info, null, 2));
    else {
      console.log(`adapter   ${info.adapter.vendor} / ${info.adapter.architecture} (${info.adapter.description})${info.adapter.isFallbackAdapter ? ' [fallback]' : ''}`);
      console.log(`driver    ${info.driver}`);
      console.log(`features  ${info.features.join(', ')}`);
      for (const [k, v] of Object.entries(info.caps)) console.log(`${k.padEnd(36)}${v}`);
    }
    return 0;
  } finally {
    ctx.dispose();
    node.dispose();
  }
}
