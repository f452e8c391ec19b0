import { GpuContext } from '../../gpu/device.js';
import { createNodeGpu } from '../dawn.js';

/** `mmdit-webgpu info`: the adapter, its features and the limits the engine would use. */
export async function runInfo(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
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
