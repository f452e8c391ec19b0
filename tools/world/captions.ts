/**
 * The world's captions: GenEval's six templates with this world's nouns, every prompt of each
 * category, parsing a prompt back into what an image must show, and which prompts are held out.
 */
import { CaptionError } from './errors.js';
import { Rng } from './random.js';
import type { ObjectRequirement, SamplingMode } from './scene.js';
import {
  CATEGORIES,
  COLOURS,
  COUNT_VALUES,
  COUNT_WORDS,
  PLURALS,
  RELATIONS,
  SHAPES,
  isColour,
  isHeldOutColourShape,
  isHeldOutPositionPair,
  isShape,
  type Category,
  type Colour,
  type Relation,
  type Shape,
} from './world.js';

/** A prompt with what its image must show: objects in caption order; a relation of objects[0] to objects[1]. */
export interface PromptSpec {
  category: Category;
  prompt: string;
  objects: ObjectRequirement[];
  relation?: Relation;
}

/** "an" before "orange" (the only vowel among the world's words), "a" otherwise. */
export function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

function colouredNoun(colour: Colour, shape: Shape): string {
  return `${article(colour)} ${colour} ${shape}`;
}

export function singleObjectPrompt(shape: Shape): PromptSpec {
  return { category: 'single_object', prompt: `a photo of a ${shape}`, objects: [{ shape, count: 1 }] };
}

export function twoObjectPrompt(a: Shape, b: Shape): PromptSpec {
  if (a === b) throw new CaptionError(`two_object needs two different shapes, got ${a} twice`);
  return { category: 'two_object', prompt: `a photo of a ${a} and a ${b}`, objects: [{ shape: a, count: 1 }, { shape: b, count: 1 }] };
}

export function countingPrompt(count: number, shape: Shape): PromptSpec {
  const word = COUNT_WORDS.find((w) => COUNT_VALUES[w] === count);
  if (word === undefined) throw new CaptionError(`counting takes 2, 3 or 4 objects, not ${count}`);
  return { category: 'counting', prompt: `a photo of ${word} ${PLURALS[shape]}`, objects: [{ shape, count }] };
}

export function colorsPrompt(colour: Colour, shape: Shape): PromptSpec {
  return { category: 'colors', prompt: `a photo of ${colouredNoun(colour, shape)}`, objects: [{ shape, count: 1, colour }] };
}

export function positionPrompt(a: Shape, relation: Relation, b: Shape): PromptSpec {
  if (a === b) throw new CaptionError(`position needs two different shapes, got ${a} twice`);
  return {
    category: 'position',
    prompt: `a photo of a ${a} ${relation} a ${b}`,
    objects: [{ shape: a, count: 1 }, { shape: b, count: 1 }],
    relation,
  };
}

export function colorAttrPrompt(ca: Colour, a: Shape, cb: Colour, b: Shape): PromptSpec {
  if (a === b) throw new CaptionError(`color_attr needs two different shapes, got ${a} twice`);
  if (ca === cb) throw new CaptionError(`color_attr needs two different colours, got ${ca} twice`);
  return {
    category: 'color_attr',
    prompt: `a photo of ${colouredNoun(ca, a)} and ${colouredNoun(cb, b)}`,
    objects: [{ shape: a, count: 1, colour: ca }, { shape: b, count: 1, colour: cb }],
  };
}

function pairs(): [Shape, Shape][] {
  return SHAPES.flatMap((a) => SHAPES.filter((b) => b !== a).map((b): [Shape, Shape] => [a, b]));
}

/** Every distinct prompt of a category, in a fixed order. */
export function allPrompts(category: Category): PromptSpec[] {
  switch (category) {
    case 'single_object':
      return SHAPES.map(singleObjectPrompt);
    case 'two_object':
      return pairs().map(([a, b]) => twoObjectPrompt(a, b));
    case 'counting':
      return COUNT_WORDS.flatMap((w) => SHAPES.map((s) => countingPrompt(COUNT_VALUES[w], s)));
    case 'colors':
      return COLOURS.flatMap((c) => SHAPES.map((s) => colorsPrompt(c, s)));
    case 'position':
      return pairs().flatMap(([a, b]) => RELATIONS.map((r) => positionPrompt(a, r, b)));
    case 'color_attr':
      return pairs().flatMap(([a, b]) =>
        COLOURS.flatMap((ca) => COLOURS.filter((cb) => cb !== ca).map((cb) => colorAttrPrompt(ca, a, cb, b))),
      );
  }
}

/**
 * Whether a prompt needs a held-out combination: a colors prompt with a held-out colour–shape pair, a
 * color_attr prompt where at least one object is one, or a position prompt with a held-out ordered pair.
 */
export function isHeldOutSpec(spec: PromptSpec): boolean {
  switch (spec.category) {
    case 'colors':
    case 'color_attr':
      return spec.objects.some((o) => o.colour !== undefined && isHeldOutColourShape(o.colour, o.shape));
    case 'position':
      return isHeldOutPositionPair(spec.objects[0]!.shape, spec.objects[1]!.shape);
    default:
      return false;
  }
}

export function isHeldOut(prompt: string): boolean {
  return isHeldOutSpec(parsePrompt(prompt));
}

/** Prompts of a category that training may use ('train') or all of them ('eval'). */
export function promptsFor(category: Category, mode: SamplingMode): PromptSpec[] {
  const all = allPrompts(category);
  return mode === 'train' ? all.filter((p) => !isHeldOutSpec(p)) : all;
}

/** A uniformly drawn prompt of the category. */
export function samplePrompt(category: Category, rng: Rng, mode: SamplingMode = 'eval'): PromptSpec {
  return rng.pick(promptsFor(category, mode));
}

const SHAPE_RE = `(${SHAPES.join('|')})`;
const COLOUR_RE = `(${COLOURS.join('|')})`;
const ART = '(?:a|an)';
const PATTERNS: { category: Category; re: RegExp }[] = [
  { category: 'color_attr', re: new RegExp(`^a photo of ${ART} ${COLOUR_RE} ${SHAPE_RE} and ${ART} ${COLOUR_RE} ${SHAPE_RE}$`) },
  { category: 'position', re: new RegExp(`^a photo of a ${SHAPE_RE} (${RELATIONS.join('|')}) a ${SHAPE_RE}$`) },
  { category: 'two_object', re: new RegExp(`^a photo of a ${SHAPE_RE} and a ${SHAPE_RE}$`) },
  { category: 'counting', re: new RegExp(`^a photo of (${COUNT_WORDS.join('|')}) (${SHAPES.map((s) => PLURALS[s]).join('|')})$`) },
  { category: 'colors', re: new RegExp(`^a photo of ${ART} ${COLOUR_RE} ${SHAPE_RE}$`) },
  { category: 'single_object', re: new RegExp(`^a photo of a ${SHAPE_RE}$`) },
];

function asShape(s: string | undefined): Shape {
  if (s === undefined || !isShape(s)) throw new CaptionError(`not a shape of the world: ${String(s)}`);
  return s;
}

function asColour(s: string | undefined): Colour {
  if (s === undefined || !isColour(s)) throw new CaptionError(`not a colour of the world: ${String(s)}`);
  return s;
}

/**
 * Parses one of the six templates back into its requirements. Throws CaptionError for anything else
 * (including a wrong article: the prompt must be exactly what the template writes).
 */
export function parsePrompt(prompt: string): PromptSpec {
  for (const { category, re } of PATTERNS) {
    const m = re.exec(prompt);
    if (!m) continue;
    let spec: PromptSpec;
    switch (category) {
      case 'single_object':
        spec = singleObjectPrompt(asShape(m[1]));
        break;
      case 'two_object':
        spec = twoObjectPrompt(asShape(m[1]), asShape(m[2]));
        break;
      case 'counting': {
        const word = m[1] as (typeof COUNT_WORDS)[number];
        const shape = SHAPES.find((s) => PLURALS[s] === m[2]);
        spec = countingPrompt(COUNT_VALUES[word], asShape(shape));
        break;
      }
      case 'colors':
        spec = colorsPrompt(asColour(m[1]), asShape(m[2]));
        break;
      case 'position':
        spec = positionPrompt(asShape(m[1]), m[2] as Relation, asShape(m[3]));
        break;
      case 'color_attr':
        spec = colorAttrPrompt(asColour(m[1]), asShape(m[2]), asColour(m[3]), asShape(m[4]));
        break;
    }
    // Rebuilding the prompt from its parts rejects wrong articles ("a orange", "an red").
    if (spec.prompt !== prompt) throw new CaptionError(`not written as the template writes it: "${prompt}" (expected "${spec.prompt}")`);
    return spec;
  }
  throw new CaptionError(`not a prompt of the world's six templates: "${prompt}"`);
}

/** Whether a string is one of the world's prompts. */
export function isWorldPrompt(prompt: string): boolean {
  try {
    parsePrompt(prompt);
    return true;
  } catch (e) {
    if (e instanceof CaptionError) return false;
    throw e;
  }
}

/** GenEval's metadata for a prompt (its `evaluation_metadata.jsonl` form), with this world's classes. */
export interface GenevalMetadata {
  tag: Category;
  prompt: string;
  include: { class: Shape; count: number; color?: Colour; position?: [Relation, number] }[];
  exclude?: { class: Shape; count: number }[];
}

export function toGenevalMetadata(spec: PromptSpec): GenevalMetadata {
  const include: GenevalMetadata['include'] = spec.objects.map((o) =>
    o.colour === undefined ? { class: o.shape, count: o.count } : { class: o.shape, count: o.count, color: o.colour },
  );
  if (spec.relation !== undefined) {
    // GenEval lists the reference object first and puts the relation on the other, pointing at index 0.
    const [a, b] = include as [GenevalMetadata['include'][number], GenevalMetadata['include'][number]];
    return { tag: spec.category, prompt: spec.prompt, include: [b, { ...a, position: [spec.relation, 0] }] };
  }
  const meta: GenevalMetadata = { tag: spec.category, prompt: spec.prompt, include };
  if (spec.category === 'counting') meta.exclude = [{ class: spec.objects[0]!.shape, count: spec.objects[0]!.count + 1 }];
  return meta;
}

export { CATEGORIES };
