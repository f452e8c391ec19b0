/**
 * Seeded scene sampling: given what a caption asks for, draws a scene that obeys WORLD.md's rules
 * (sizes, 1 px margin, 3 px Chebyshev gap between boxes, relation geometry) by rejection.
 */
import { SceneSamplingError } from './errors.js';
import { Rng } from './random.js';
import {
  BACKGROUND_GREY,
  BACKGROUND_TINT,
  CANVAS,
  COLOURS,
  MARGIN,
  MIN_GAP,
  isHeldOutColourShape,
  radiusRange,
  type Colour,
  type Relation,
  type Scene,
  type SceneObject,
  type Shape,
} from './world.js';

/** One kind of object a caption asks for: `count` objects of `shape`, of `colour` when stated. */
export interface ObjectRequirement {
  shape: Shape;
  count: number;
  colour?: Colour;
}

/** What a scene must contain: objects in caption order, and a relation of the first to the second. */
export interface SceneRequirements {
  objects: ObjectRequirement[];
  relation?: Relation;
}

/**
 * 'train' never draws a held-out colour–shape pair for an object whose colour is free (and refuses
 * requirements that state one); 'eval' draws any colour.
 */
export type SamplingMode = 'train' | 'eval';

/** Colours an object of this shape may take when the caption leaves it free. */
export function freeColours(shape: Shape, mode: SamplingMode): readonly Colour[] {
  return mode === 'train' ? COLOURS.filter((c) => !isHeldOutColourShape(c, shape)) : COLOURS;
}

export function sampleBackground(rng: Rng): [number, number, number] {
  const g = rng.uniform(BACKGROUND_GREY[0], BACKGROUND_GREY[1]);
  return [0, 1, 2].map(() => g + rng.uniform(-BACKGROUND_TINT, BACKGROUND_TINT)) as [number, number, number];
}

/** The Chebyshev gap between two boxes: the larger of the x gap and the y gap (negative when they overlap). */
export function boxGap(a: SceneObject, b: SceneObject): number {
  const gx = Math.abs(a.cx - b.cx) - a.r - b.r;
  const gy = Math.abs(a.cy - b.cy) - a.r - b.r;
  return Math.max(gx, gy);
}

/** Whether "a {relation} b" holds by WORLD.md's generation rule (y grows downwards). */
export function relationHolds(a: SceneObject, b: SceneObject, relation: Relation): boolean {
  const horizontal = relation === 'left of' || relation === 'right of';
  const sign = relation === 'left of' || relation === 'above' ? -1 : 1;
  const main = horizontal ? a.cx - b.cx : a.cy - b.cy;
  const across = horizontal ? a.cy - b.cy : a.cx - b.cx;
  const past = sign * main;
  return past > 0.3 * (2 * a.r + 2 * b.r) + 2 && Math.abs(across) < 0.5 * Math.abs(main);
}

/** Whether a scene keeps the sizes, margin and gap rules (relations are checked separately). */
export function sceneLayoutValid(scene: Scene, size = CANVAS): boolean {
  const [lo, hi] = radiusRange(scene.objects.length);
  const objs = scene.objects;
  for (let i = 0; i < objs.length; i++) {
    const o = objs[i]!;
    if (o.r < lo || o.r > hi) return false;
    if (o.cx - o.r < MARGIN || o.cx + o.r > size - MARGIN || o.cy - o.r < MARGIN || o.cy + o.r > size - MARGIN) return false;
    for (let j = i + 1; j < objs.length; j++) if (boxGap(o, objs[j]!) < MIN_GAP) return false;
  }
  return true;
}

const MAX_LAYOUTS = 2000;
const MAX_PLACEMENTS = 200;

/** Draws a scene meeting the requirements; the same rng state always gives the same scene. */
export function sampleScene(req: SceneRequirements, rng: Rng, mode: SamplingMode = 'eval'): Scene {
  const kinds: { shape: Shape; colour?: Colour }[] = [];
  for (const o of req.objects) {
    if (mode === 'train' && o.colour !== undefined && isHeldOutColourShape(o.colour, o.shape)) {
      throw new SceneSamplingError(`a ${o.colour} ${o.shape} is held out of training`);
    }
    for (let k = 0; k < o.count; k++) kinds.push(o.colour === undefined ? { shape: o.shape } : { shape: o.shape, colour: o.colour });
  }
  if (kinds.length < 1 || kinds.length > 4) {
    throw new SceneSamplingError(`a scene holds 1–4 objects, not ${kinds.length}`);
  }
  if (req.relation !== undefined && kinds.length !== 2) {
    throw new SceneSamplingError('a relation needs exactly two objects');
  }
  const bg = sampleBackground(rng);
  const objects: SceneObject[] = kinds.map((k) => ({
    shape: k.shape,
    colour: k.colour ?? rng.pick(freeColours(k.shape, mode)),
    cx: 0,
    cy: 0,
    r: 0,
  }));
  const [rlo, rhi] = radiusRange(objects.length);
  for (let attempt = 0; attempt < MAX_LAYOUTS; attempt++) {
    if (placeAll(objects, rng, rlo, rhi) && (req.relation === undefined || relationHolds(objects[0]!, objects[1]!, req.relation))) {
      return { bg, objects };
    }
  }
  throw new SceneSamplingError(`no layout found for ${kinds.length} objects in ${MAX_LAYOUTS} attempts`);
}

/** Draws radii, then centres one object at a time, each clear of those before it. */
function placeAll(objects: SceneObject[], rng: Rng, rlo: number, rhi: number): boolean {
  for (let i = 0; i < objects.length; i++) {
    const o = objects[i]!;
    o.r = rng.uniform(rlo, rhi);
    let placed = false;
    for (let t = 0; t < MAX_PLACEMENTS && !placed; t++) {
      o.cx = rng.uniform(MARGIN + o.r, CANVAS - MARGIN - o.r);
      o.cy = rng.uniform(MARGIN + o.r, CANVAS - MARGIN - o.r);
      placed = objects.slice(0, i).every((p) => boxGap(o, p) >= MIN_GAP);
    }
    if (!placed) return false;
  }
  return true;
}
