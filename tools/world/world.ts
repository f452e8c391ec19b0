/**
 * The synthetic world of the bundled model (../shared/WORLD.md): its shapes, colours, templates and
 * held-out combinations. The training renderer (tools/train/, Python), the reference renderer, the
 * detector and the evaluation all read their constants from this one description.
 */

export const CANVAS = 64;

export const SHAPES = ['circle', 'square', 'triangle', 'cross'] as const;
export type Shape = (typeof SHAPES)[number];

export const PLURALS: Readonly<Record<Shape, string>> = {
  circle: 'circles',
  square: 'squares',
  triangle: 'triangles',
  cross: 'crosses',
};

export const COLOURS = ['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'white', 'black'] as const;
export type Colour = (typeof COLOURS)[number];

/** Flat fill colours, RGB 0–255. */
export const COLOUR_RGB: Readonly<Record<Colour, readonly [number, number, number]>> = {
  red: [220, 40, 40],
  orange: [255, 140, 0],
  yellow: [245, 215, 30],
  green: [40, 160, 60],
  blue: [40, 80, 220],
  purple: [130, 50, 190],
  white: [250, 250, 250],
  black: [20, 20, 20],
};

export const RELATIONS = ['left of', 'right of', 'above', 'below'] as const;
export type Relation = (typeof RELATIONS)[number];

export const COUNT_WORDS = ['two', 'three', 'four'] as const;
export const COUNT_VALUES: Readonly<Record<(typeof COUNT_WORDS)[number], number>> = { two: 2, three: 3, four: 4 };

export const CATEGORIES = ['single_object', 'two_object', 'counting', 'colors', 'position', 'color_attr'] as const;
export type Category = (typeof CATEGORIES)[number];

/** Colour–shape pairs that never appear in a training image. */
export const HELD_OUT_COLOUR_SHAPES: readonly (readonly [Colour, Shape])[] = [
  ['purple', 'triangle'],
  ['yellow', 'square'],
  ['white', 'circle'],
  ['green', 'cross'],
];

/** Ordered (A, B) pairs that no training position caption uses, in any relation. */
export const HELD_OUT_POSITION_PAIRS: readonly (readonly [Shape, Shape])[] = [
  ['square', 'triangle'],
  ['cross', 'circle'],
];

export function isHeldOutColourShape(colour: Colour, shape: Shape): boolean {
  return HELD_OUT_COLOUR_SHAPES.some(([c, s]) => c === colour && s === shape);
}

export function isHeldOutPositionPair(a: Shape, b: Shape): boolean {
  return HELD_OUT_POSITION_PAIRS.some(([x, y]) => x === a && y === b);
}

/** Background: each channel is g + t_c, g ~ U[140, 185] once per image, t_c ~ U[−6, 6] per channel. */
export const BACKGROUND_GREY: readonly [number, number] = [140, 185];
export const BACKGROUND_TINT = 6;

/** Half-size ranges: 1–2 objects, and 3–4 objects. */
export const RADIUS_FEW: readonly [number, number] = [6, 10];
export const RADIUS_MANY: readonly [number, number] = [5, 8];
/** Every box [cx ± r] × [cy ± r] stays this far inside the canvas. */
export const MARGIN = 1;
/** Boxes keep at least this Chebyshev gap (the larger of the x gap and the y gap). */
export const MIN_GAP = 3;

/** Supersampling: SS × SS samples per pixel, at i + (k + 0.5)/SS. */
export const SUPERSAMPLE = 4;

export function radiusRange(objectCount: number): readonly [number, number] {
  return objectCount <= 2 ? RADIUS_FEW : RADIUS_MANY;
}

export function isShape(s: string): s is Shape {
  return (SHAPES as readonly string[]).includes(s);
}

export function isColour(s: string): s is Colour {
  return (COLOURS as readonly string[]).includes(s);
}

/** One object of a scene: a shape filled with a colour, centred at (cx, cy) with half-size r, in pixels. */
export interface SceneObject {
  shape: Shape;
  colour: Colour;
  cx: number;
  cy: number;
  r: number;
}

/**
 * A scene, in the JSON form shared with the Python training renderer:
 * `{"bg": [r, g, b] floats, "objects": [{shape, colour, cx, cy, r}]}`.
 */
export interface Scene {
  bg: [number, number, number];
  objects: SceneObject[];
}

/** The empty caption: the unconditional prompt, and the default negative prompt. */
export const UNCONDITIONAL_PROMPT = '';
