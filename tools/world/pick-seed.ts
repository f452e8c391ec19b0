/**
 * The first seeds whose picture the world's detector scores correct for one prompt, made through
 * the Node pipeline on this machine's adapter: the demo's end-to-end test shows such a seed, so it
 * is picked again whenever the bundled model is retrained.
 *
 *   npx vite-node tools/world/pick-seed.ts -- [colour] [shape] [seeds to try, default 16]
 */
import { createNodeGpu } from '../../src/node/dawn.js';
import { createPipeline } from '../../src/node/pipeline.js';
import { colorsPrompt } from './captions.js';
import { detect } from './detector.js';
import { scoreImage } from './score.js';
import { COLOURS, SHAPES, type Colour, type Shape } from './world.js';

const [colour = 'red', shape = 'circle', tries = '16'] = process.argv.slice(2).filter((a) => a !== '--');
if (!(COLOURS as readonly string[]).includes(colour) || !(SHAPES as readonly string[]).includes(shape)) {
  console.error(`colour: one of ${COLOURS.join(', ')}; shape: one of ${SHAPES.join(', ')}`);
  process.exit(2);
}
const spec = colorsPrompt(colour as Colour, shape as Shape);
const node = createNodeGpu();
const pipeline = await createPipeline({ gpu: node.gpu });
const good: number[] = [];
for (let seed = 0; seed < Number(tries); seed++) {
  const { images } = await pipeline.generate({ prompt: spec.prompt, seed });
  const image = images[0]!;
  const verdict = scoreImage(spec, detect({ width: image.width, height: image.height, data: Uint8ClampedArray.from(image.data) }));
  console.log(`seed ${seed}: ${verdict.correct ? 'correct' : verdict.reasons.join('; ')}`);
  if (verdict.correct) good.push(seed);
}
pipeline.dispose();
console.log(`"${spec.prompt}": correct for seeds ${good.length ? good.join(', ') : 'none'}`);
process.exit(0);
