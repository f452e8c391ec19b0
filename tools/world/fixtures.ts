/**
 * The renderer's fixtures: scenes with the SHA-256 of their reference render (64×64×3 bytes,
 * row-major RGB), for checking the Python training renderer bit for bit (tools/train/check_renderer.py)
 * and this renderer against itself over time. Written by make-fixtures.ts.
 */
import { createHash } from 'node:crypto';
import { allPrompts } from './captions.js';
import { Rng } from './random.js';
import { renderScene } from './render.js';
import { sampleScene } from './scene.js';
import { CATEGORIES, COLOURS, SHAPES, type Scene, type SceneObject, type Shape } from './world.js';

export interface SceneFixture {
  name: string;
  scene: Scene;
  sha256: string;
}

export function sceneHash(scene: Scene): string {
  return createHash('sha256').update(renderScene(scene)).digest('hex');
}

function obj(shape: Shape, colour: SceneObject['colour'], cx: number, cy: number, r: number): SceneObject {
  return { shape, colour, cx, cy, r };
}

/** Hand-made scenes for the rules that random scenes rarely reach. */
function edgeScenes(): { name: string; scene: Scene }[] {
  const out: { name: string; scene: Scene }[] = [];
  // Every shape × colour: scene c gives shape s the colour (c + s) mod 8.
  const corners: [number, number][] = [
    [15.3, 14.8],
    [47.9, 16.2],
    [16.6, 47.1],
    [48.2, 48.7],
  ];
  for (let c = 0; c < COLOURS.length; c++) {
    out.push({
      name: `all_shapes_colour_offset_${c}`,
      scene: {
        bg: [150.25 + c, 160.75 - c, 170.5 + c / 8],
        objects: SHAPES.map((s, i) => obj(s, COLOURS[(c + i) % COLOURS.length]!, corners[i]![0], corners[i]![1], 5 + 0.37 * ((i + c) % 8))),
      },
    });
  }
  // Boxes touching the 1 px margin exactly, on every side.
  out.push({
    name: 'margins_touching_r8',
    scene: {
      bg: [161.3, 158.9, 166.2],
      objects: [obj('circle', 'red', 9, 9, 8), obj('square', 'blue', 55, 9, 8), obj('triangle', 'black', 9, 55, 8), obj('cross', 'white', 55, 55, 8)],
    },
  });
  out.push({
    name: 'margins_touching_r10',
    scene: { bg: [144.1, 139.0, 146.7], objects: [obj('triangle', 'yellow', 11, 32, 10), obj('cross', 'purple', 53, 32, 10)] },
  });
  // Centres and radii that are exact binary fractions put samples exactly on the shapes' boundaries
  // (dx = ±1, dy = ±1, |dx| = (dy + 1)/2, |dy| = 1/3): the tests are inclusive.
  for (const shape of SHAPES) {
    out.push({ name: `boundary_samples_${shape}_eighths`, scene: { bg: [170.2, 171.9, 168.4], objects: [obj(shape, 'green', 32.125, 32.375, 6)] } });
    out.push({ name: `boundary_samples_${shape}_half_centre`, scene: { bg: [152.6, 149.3, 155.8], objects: [obj(shape, 'orange', 31.5, 30.5, 6.375)] } });
  }
  out.push({ name: 'boundary_samples_cross_r7.5', scene: { bg: [175.5, 180.1, 178.3], objects: [obj('cross', 'blue', 20.125, 40.125, 7.5)] } });
  // Pixels exactly half covered over an integer background: means end in .5 and round up (184.5 → 185).
  out.push({ name: 'round_half_up_square', scene: { bg: [149, 149, 149], objects: [obj('square', 'red', 32.5, 32.5, 6)] } });
  out.push({ name: 'round_half_up_two', scene: { bg: [151, 141, 183], objects: [obj('square', 'black', 20.5, 20.5, 8), obj('cross', 'purple', 44.5, 44, 9)] } });
  return out;
}

/** Scenes drawn by the sampler for every category, in eval mode (held-out pairs included). */
function sampledScenes(perCategory: number): { name: string; scene: Scene }[] {
  const out: { name: string; scene: Scene }[] = [];
  const rng = new Rng(20261201);
  for (const category of CATEGORIES) {
    const prompts = allPrompts(category);
    for (let k = 0; k < perCategory; k++) {
      const spec = rng.pick(prompts);
      out.push({ name: `${category}_${k}: ${spec.prompt}`, scene: sampleScene(spec, rng) });
    }
  }
  return out;
}

export function makeFixtures(): SceneFixture[] {
  return [...edgeScenes(), ...sampledScenes(3)].map(({ name, scene }) => ({ name, scene, sha256: sceneHash(scene) }));
}

