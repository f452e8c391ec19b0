/**
 * The fixed evaluation set, and a separate validation set for choosing guidance and shift.
 *
 * - 24 prompt slots per category, 4 images each (one `generate` call with numImagesPerPrompt 4, so
 *   image i of a slot uses seed `seed + i`).
 * - colors, position and color_attr use only held-out combinations (the prompts the held-out score is
 *   taken on); single_object, two_object and counting cycle through their templates' prompts, since
 *   the templates give fewer than 24.
 * - Seeds: evaluation images use engine seeds from EVAL_SEED_BASE (10⁹) up, validation from
 *   VALIDATION_SEED_BASE (1.5·10⁹) up. Training (tools/train/) draws its own noise and scenes with
 *   PyTorch's and NumPy's generators, never from these seeds, so no evaluation image repeats a
 *   training one.
 * - Validation: the same categories, other seeds, 8 slots per category by default; for color_attr,
 *   held-out prompts that the evaluation set does not use (colors and position have only 4 and 8
 *   held-out prompts, so their validation differs by seed alone).
 */
import { isHeldOutSpec, promptsFor, type PromptSpec } from './captions.js';
import { EvalUsageError } from './errors.js';
import { Rng } from './random.js';
import { CATEGORIES, SHAPES, isHeldOutColourShape, type Category } from './world.js';

export const EVAL_SEED_BASE = 1_000_000_000;
export const VALIDATION_SEED_BASE = 1_500_000_000;
export const EVAL_SLOTS_PER_CATEGORY = 24;
export const VALIDATION_SLOTS_PER_CATEGORY = 8;
export const IMAGES_PER_SLOT = 4;
/** Fixed seed of the shuffle that picks the color_attr prompts. */
const COLOR_ATTR_SHUFFLE_SEED = 17;

export interface EvalSlot {
  /** `<category>_<slot>`, e.g. `colors_07`. */
  id: string;
  spec: PromptSpec;
  /** Image i of the slot uses seed + i. */
  seed: number;
  heldout: boolean;
}

/** One image of a slot, as the batch `generate` prompt file lists it. */
export interface EvalImage {
  id: string;
  prompt: string;
  seed: number;
  slot: EvalSlot;
}

export type EvalSetName = 'evaluation' | 'validation';

/**
 * Held-out color_attr prompts in a fixed order that lets the four held-out pairs take turns: grouped
 * by the shape of the (first) held-out object, each group shuffled, then dealt round-robin.
 */
function colorAttrOrder(): PromptSpec[] {
  const held = promptsFor('color_attr', 'eval').filter(isHeldOutSpec);
  const rng = new Rng(COLOR_ATTR_SHUFFLE_SEED);
  const groups = SHAPES.map((shape) =>
    held.filter((p) => {
      const first = p.objects.find((o) => o.colour !== undefined && isHeldOutColourShape(o.colour, o.shape))!;
      return first.shape === shape;
    }),
  );
  for (const g of groups) {
    for (let i = g.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [g[i], g[j]] = [g[j]!, g[i]!];
    }
  }
  const out: PromptSpec[] = [];
  for (let k = 0; out.length < held.length; k++) for (const g of groups) if (k < g.length) out.push(g[k]!);
  return out;
}

/** The prompts a category's slots cycle through, and where in that cycle a set starts. */
function categoryPrompts(category: Category): PromptSpec[] {
  switch (category) {
    case 'colors':
    case 'position':
      return promptsFor(category, 'eval').filter(isHeldOutSpec);
    case 'color_attr':
      return colorAttrOrder();
    default:
      return promptsFor(category, 'eval');
  }
}

function buildSet(name: EvalSetName, slotsPerCategory: number): EvalSlot[] {
  if (!Number.isInteger(slotsPerCategory) || slotsPerCategory < 1 || slotsPerCategory > 96) {
    throw new EvalUsageError(`slots per category must be an integer in 1–96, got ${slotsPerCategory}`);
  }
  const base = name === 'evaluation' ? EVAL_SEED_BASE : VALIDATION_SEED_BASE;
  const slots: EvalSlot[] = [];
  CATEGORIES.forEach((category, c) => {
    const prompts = categoryPrompts(category);
    // color_attr's validation prompts come after the evaluation's in the shuffled order.
    const start = name === 'validation' && category === 'color_attr' ? EVAL_SLOTS_PER_CATEGORY : 0;
    for (let k = 0; k < slotsPerCategory; k++) {
      const spec = prompts[(start + k) % prompts.length]!;
      slots.push({
        id: `${category}_${String(k).padStart(2, '0')}`,
        spec,
        seed: base + (c * 96 + k) * IMAGES_PER_SLOT,
        heldout: isHeldOutSpec(spec),
      });
    }
  });
  return slots;
}

/** The evaluation set: 24 slots per category (fewer only for quick runs). */
export function evaluationSet(slotsPerCategory = EVAL_SLOTS_PER_CATEGORY): EvalSlot[] {
  return buildSet('evaluation', slotsPerCategory);
}

/** The validation set (other seeds; other color_attr prompts), for picking guidance and shift. */
export function validationSet(slotsPerCategory = VALIDATION_SLOTS_PER_CATEGORY): EvalSlot[] {
  return buildSet('validation', slotsPerCategory);
}

/** Every image of the slots: ids `<slot>_<i>`, seeds seed + i. */
export function slotImages(slots: readonly EvalSlot[], imagesPerSlot = IMAGES_PER_SLOT): EvalImage[] {
  return slots.flatMap((slot) =>
    Array.from({ length: imagesPerSlot }, (_, i) => ({ id: `${slot.id}_${i}`, prompt: slot.spec.prompt, seed: slot.seed + i, slot })),
  );
}

/** The batch prompt file of `generate --prompts`: `[{"id", "prompt", "seed"}]`, one entry per image. */
export function promptFile(images: readonly EvalImage[]): { id: string; prompt: string; seed: number }[] {
  return images.map(({ id, prompt, seed }) => ({ id, prompt, seed }));
}
