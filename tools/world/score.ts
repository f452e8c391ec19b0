/**
 * GenEval's scoring rules (djghosh13/geneval, evaluation/evaluate_images.py `evaluate`), as WORLD.md
 * states them, applied to this world's detections.
 */
import { isHeldOutSpec, toGenevalMetadata, type GenevalMetadata, type PromptSpec } from './captions.js';
import type { Detection } from './detector.js';
import { CATEGORIES, type Category, type Relation, type Shape } from './world.js';

/** GenEval's POSITION_THRESHOLD: each offset component shrinks by this share of the two boxes' sizes. */
export const POSITION_THRESHOLD = 0.1;

type Box = readonly [number, number, number, number];

/**
 * The relations that hold of box a to box b (y grows downwards, so "above" is a negative y offset):
 * offset = centre_a − centre_b, each component shrunk towards 0 by 0.1·(size_a + size_b) along its
 * axis, divided by the unshrunk offset's length, compared with ±0.5.
 */
export function relativePosition(a: Box, b: Box): Set<Relation> {
  const rel = new Set<Relation>();
  const offX = (a[0] + a[2]) / 2 - (b[0] + b[2]) / 2;
  const offY = (a[1] + a[3]) / 2 - (b[1] + b[3]) / 2;
  const shrink = (off: number, dim: number): number => Math.max(Math.abs(off) - POSITION_THRESHOLD * dim, 0) * Math.sign(off);
  const rx = shrink(offX, Math.abs(a[2] - a[0]) + Math.abs(b[2] - b[0]));
  const ry = shrink(offY, Math.abs(a[3] - a[1]) + Math.abs(b[3] - b[1]));
  if (Math.abs(rx) < 1e-3 && Math.abs(ry) < 1e-3) return rel;
  const norm = Math.hypot(offX, offY);
  const dx = rx / norm;
  const dy = ry / norm;
  if (dx < -0.5) rel.add('left of');
  if (dx > 0.5) rel.add('right of');
  if (dy < -0.5) rel.add('above');
  if (dy > 0.5) rel.add('below');
  return rel;
}

export interface ImageVerdict {
  correct: boolean;
  /** Why not, in GenEval's words; empty when correct. */
  reasons: string[];
}

/** GenEval's `evaluate` on one image's detections. */
export function evaluateMetadata(meta: GenevalMetadata, detections: readonly Detection[]): ImageVerdict {
  const byShape = new Map<Shape, Detection[]>();
  for (const d of [...detections].sort((a, b) => b.confidence - a.confidence)) {
    const list = byShape.get(d.shape) ?? [];
    list.push(d);
    byShape.set(d.shape, list);
  }
  const reasons: string[] = [];
  let correct = true;
  const matchedGroups: (Detection[] | null)[] = [];
  for (const req of meta.include) {
    let matched = true;
    const found = (byShape.get(req.class) ?? []).slice(0, req.count);
    if (found.length < req.count) {
      correct = matched = false;
      reasons.push(`expected ${req.class}>=${req.count}, found ${found.length}`);
    } else {
      if (req.color !== undefined) {
        const colours = found.map((d) => d.colour);
        if (colours.filter((c) => c === req.color).length !== req.count) {
          correct = matched = false;
          reasons.push(`expected ${req.color} ${req.class}>=${req.count}, found ${colours.filter((c) => c === req.color).length} ${req.color}; and ${colours.filter((c) => c !== req.color).join(', ')}`);
        }
      }
      if (req.position !== undefined && matched) {
        const [expected, target] = req.position;
        const group = matchedGroups[target];
        if (group === null || group === undefined) {
          correct = matched = false;
          reasons.push(`no target for ${req.class} to be ${expected}`);
        } else {
          outer: for (const obj of found) {
            for (const t of group) {
              const rels = relativePosition(obj.box, t.box);
              if (!rels.has(expected)) {
                correct = matched = false;
                reasons.push(`expected ${req.class} ${expected} target, found ${[...rels].join(' and ') || 'no relation'} target`);
                break outer;
              }
            }
          }
        }
      }
    }
    matchedGroups.push(matched ? found : null);
  }
  for (const req of meta.exclude ?? []) {
    const n = (byShape.get(req.class) ?? []).length;
    if (n >= req.count) {
      correct = false;
      reasons.push(`expected ${req.class}<${req.count}, found ${n}`);
    }
  }
  return { correct, reasons };
}

export function scoreImage(spec: PromptSpec, detections: readonly Detection[]): ImageVerdict {
  return evaluateMetadata(toGenevalMetadata(spec), detections);
}

export interface ScoredImage {
  spec: PromptSpec;
  correct: boolean;
}

export interface ScoreSummary {
  /** Mean of the six category scores (of those with images, when some have none). */
  overall: number;
  /** Fraction correct over the images of held-out prompts; NaN when there are none. */
  heldout: number;
  categories: Record<Category, number>;
  images: number;
  heldoutImages: number;
}

/** Category score = fraction of its images correct; overall = mean of the categories; held-out over held-out prompts. */
export function summarise(images: readonly ScoredImage[]): ScoreSummary {
  const right = new Map<Category, number>();
  const total = new Map<Category, number>();
  let heldRight = 0;
  let heldTotal = 0;
  for (const im of images) {
    const c = im.spec.category;
    total.set(c, (total.get(c) ?? 0) + 1);
    right.set(c, (right.get(c) ?? 0) + (im.correct ? 1 : 0));
    if (isHeldOutSpec(im.spec)) {
      heldTotal++;
      if (im.correct) heldRight++;
    }
  }
  const categories = {} as Record<Category, number>;
  const present: number[] = [];
  for (const c of CATEGORIES) {
    const t = total.get(c) ?? 0;
    categories[c] = t === 0 ? Number.NaN : (right.get(c) ?? 0) / t;
    if (t > 0) present.push(categories[c]);
  }
  return {
    overall: present.length === 0 ? Number.NaN : present.reduce((a, b) => a + b, 0) / present.length,
    heldout: heldTotal === 0 ? Number.NaN : heldRight / heldTotal,
    categories,
    images: images.length,
    heldoutImages: heldTotal,
  };
}
