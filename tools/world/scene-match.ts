/**
 * Whether detections match a scene exactly: each object found once with its shape and colour near its
 * centre, and nothing else found. Stricter than any one prompt's check, for renders with no prompt
 * (VAE round trips of ground-truth scenes).
 */
import type { Detection } from './detector.js';
import type { Scene } from './world.js';

export interface SceneMatch {
  correct: boolean;
  missing: string[];
  extra: string[];
}

/** Centres may be off by half the radius (at least 2 px) and still match. */
export function matchScene(scene: Scene, detections: readonly Detection[]): SceneMatch {
  const taken = new Set<number>();
  const extra: string[] = [];
  for (const d of [...detections].sort((a, b) => b.confidence - a.confidence)) {
    const k = scene.objects.findIndex(
      (o, i) => !taken.has(i) && o.shape === d.shape && o.colour === d.colour && Math.hypot(o.cx - d.cx, o.cy - d.cy) <= Math.max(2, o.r / 2),
    );
    if (k < 0) extra.push(`${d.colour} ${d.shape} at (${d.cx.toFixed(1)}, ${d.cy.toFixed(1)})`);
    else taken.add(k);
  }
  const missing = scene.objects.filter((_, i) => !taken.has(i)).map((o) => `${o.colour} ${o.shape} at (${o.cx.toFixed(1)}, ${o.cy.toFixed(1)})`);
  return { correct: missing.length === 0 && extra.length === 0, missing, extra };
}
