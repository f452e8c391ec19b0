/**
 * Checks a scene against WORLD.md's rules and the caption it was drawn for (objects in any order):
 * what another sampler (the Python training one) can be held to. Returns the broken rules, empty
 * when all hold.
 */
import { isHeldOutSpec, parsePrompt } from './captions.js';
import type { SamplingMode } from './scene.js';
import { boxGap, relationHolds } from './scene.js';
import {
  BACKGROUND_GREY,
  BACKGROUND_TINT,
  CANVAS,
  MARGIN,
  MIN_GAP,
  UNCONDITIONAL_PROMPT,
  isColour,
  isHeldOutColourShape,
  isShape,
  radiusRange,
  type Scene,
} from './world.js';

export function sceneViolations(scene: Scene, prompt: string, mode: SamplingMode): string[] {
  const out: string[] = [];
  const objs = scene.objects;
  if (!Array.isArray(scene.bg) || scene.bg.length !== 3 || scene.bg.some((c) => typeof c !== 'number' || !Number.isFinite(c))) {
    return ['bg must be three finite numbers'];
  }
  const [lo, hi] = BACKGROUND_GREY;
  if (scene.bg.some((c) => c < lo - BACKGROUND_TINT || c > hi + BACKGROUND_TINT)) out.push(`bg ${JSON.stringify(scene.bg)} outside [${lo - BACKGROUND_TINT}, ${hi + BACKGROUND_TINT}]`);
  if (Math.max(...scene.bg) - Math.min(...scene.bg) > 2 * BACKGROUND_TINT) out.push(`bg channels differ by more than ${2 * BACKGROUND_TINT}`);
  if (!Array.isArray(objs) || objs.length < 1 || objs.length > 4) return [...out, `a scene holds 1–4 objects, not ${Array.isArray(objs) ? objs.length : 'none'}`];
  const [rlo, rhi] = radiusRange(objs.length);
  objs.forEach((o, i) => {
    if (!isShape(o.shape)) out.push(`object ${i}: unknown shape ${String(o.shape)}`);
    if (!isColour(o.colour)) out.push(`object ${i}: unknown colour ${String(o.colour)}`);
    if (!(o.r >= rlo && o.r <= rhi)) out.push(`object ${i}: r = ${o.r} outside [${rlo}, ${rhi}] for ${objs.length} objects`);
    if (o.cx - o.r < MARGIN || o.cx + o.r > CANVAS - MARGIN || o.cy - o.r < MARGIN || o.cy + o.r > CANVAS - MARGIN) out.push(`object ${i}: box leaves the ${MARGIN} px margin`);
    for (let j = i + 1; j < objs.length; j++) {
      const g = boxGap(o, objs[j]!);
      if (g < MIN_GAP) out.push(`objects ${i} and ${j}: boxes ${g.toFixed(2)} px apart, less than ${MIN_GAP}`);
    }
    if (mode === 'train' && isHeldOutColourShape(o.colour, o.shape)) out.push(`object ${i}: a ${o.colour} ${o.shape} is held out of training`);
  });
  if (prompt === UNCONDITIONAL_PROMPT) return out;
  const spec = parsePrompt(prompt);
  if (mode === 'train' && isHeldOutSpec(spec)) out.push(`"${prompt}" is a held-out prompt`);
  const wanted = spec.objects.reduce((s, o) => s + o.count, 0);
  if (objs.length !== wanted) out.push(`"${prompt}" asks for ${wanted} objects, the scene has ${objs.length}`);
  // Object order is free (a sampler may shuffle the drawing order): compare counts per shape and colour.
  for (const req of spec.objects) {
    const ofShape = objs.filter((o) => o.shape === req.shape);
    if (ofShape.length !== req.count) out.push(`"${prompt}" asks for ${req.count} ${req.shape}, the scene has ${ofShape.length}`);
    else if (req.colour !== undefined && ofShape.some((o) => o.colour !== req.colour)) {
      out.push(`"${prompt}" asks for a ${req.colour} ${req.shape}, the scene's is ${ofShape.map((o) => o.colour).join(', ')}`);
    }
  }
  if (spec.relation !== undefined) {
    const a = objs.find((o) => o.shape === spec.objects[0]!.shape);
    const b = objs.find((o) => o.shape === spec.objects[1]!.shape);
    if (a && b && !relationHolds(a, b, spec.relation)) out.push(`"${prompt}": the relation does not hold by the generation rule`);
  }
  return out;
}
