"""The synthetic world of the bundled model (../shared/WORLD.md), for training.

Scenes, captions and the renderer. The renderer's arithmetic is the one tools/world/render.ts fixes, so
that both produce identical bytes (checked by tools/train/check_renderer.py on shared fixtures):
- sample (a, b) of pixel (i, j) sits at x = i + (a + 0.5)/4, y = j + (b + 0.5)/4;
- dx = (x - cx)/r, dy = (y - cy)/r in float64, then WORLD.md's inside test;
- with k_o samples inside object o and k_bg in none, v = (sum_o k_o*C_o + k_bg*B)/16, B the unrounded
  background channel; the byte is floor(v + 0.5), clamped to 0..255.

Scenes are the JSON form shared with the TypeScript side:
  {"bg": [r, g, b] (floats, g + t_c), "objects": [{"shape", "colour", "cx", "cy", "r"}]}
"""
from __future__ import annotations

import math

import numpy as np

CANVAS = 64
SS = 4
SHAPES = ("circle", "square", "triangle", "cross")
PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles", "cross": "crosses"}
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")
COLOUR_RGB = {
    "red": (220, 40, 40),
    "orange": (255, 140, 0),
    "yellow": (245, 215, 30),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "purple": (130, 50, 190),
    "white": (250, 250, 250),
    "black": (20, 20, 20),
}
RELATIONS = ("left of", "right of", "above", "below")
COUNT_WORDS = {2: "two", 3: "three", 4: "four"}
CATEGORIES = ("single_object", "two_object", "counting", "colors", "position", "color_attr")

HELD_OUT_COLOUR_SHAPES = {("purple", "triangle"), ("yellow", "square"), ("white", "circle"), ("green", "cross")}
HELD_OUT_POSITION_PAIRS = {("square", "triangle"), ("cross", "circle")}

MARGIN = 1.0
MIN_GAP = 3.0
THIRD = 1.0 / 3.0
OFFSETS = (np.arange(SS, dtype=np.float64) + 0.5) / SS


def radius_range(count: int) -> tuple[float, float]:
    return (6.0, 10.0) if count <= 2 else (5.0, 8.0)


def article(word: str) -> str:
    """'an' before a vowel sound: of this world's words only "orange" takes it."""
    return "an" if word[0] in "aeiou" else "a"


# ----------------------------------------------------------------------------------------------
# Rendering


def inside(shape: str, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    if shape == "circle":
        return dx * dx + dy * dy <= 1
    if shape == "square":
        return (np.abs(dx) <= 1) & (np.abs(dy) <= 1)
    if shape == "triangle":
        return (dy >= -1) & (dy <= 1) & (np.abs(dx) <= (dy + 1) / 2)
    if shape == "cross":
        ax, ay = np.abs(dx), np.abs(dy)
        return ((ax <= 1) & (ay <= THIRD)) | ((ay <= 1) & (ax <= THIRD))
    raise ValueError(f"unknown shape {shape!r}")


def pixel_span(c: float, r: float, size: int) -> tuple[int, int]:
    return max(0, math.floor(c - r)), min(size, math.ceil(c + r) + 1)


def coverage(shape: str, cx: float, cy: float, r: float, size: int = CANVAS) -> tuple[np.ndarray, int, int]:
    """Samples inside (0..16) for the pixels of the shape's box; returns (counts[h, w], x0, y0)."""
    x0, x1 = pixel_span(cx, r, size)
    y0, y1 = pixel_span(cy, r, size)
    xs = (np.arange(x0, x1, dtype=np.float64)[:, None] + OFFSETS[None, :]).reshape(-1)
    ys = (np.arange(y0, y1, dtype=np.float64)[:, None] + OFFSETS[None, :]).reshape(-1)
    dx = (xs - cx) / r
    dy = (ys - cy) / r
    m = inside(shape, dx[None, :], dy[:, None])
    counts = m.reshape(y1 - y0, SS, x1 - x0, SS).sum(axis=(1, 3))
    return counts, x0, y0


def render(scene: dict, size: int = CANVAS) -> np.ndarray:
    """A scene → uint8 [size, size, 3] (row-major RGB). Objects of valid scenes never overlap."""
    sums = np.zeros((size, size, 3), dtype=np.float64)
    covered = np.zeros((size, size), dtype=np.int64)
    for o in scene["objects"]:
        k, x0, y0 = coverage(o["shape"], float(o["cx"]), float(o["cy"]), float(o["r"]), size)
        h, w = k.shape
        col = np.array(COLOUR_RGB[o["colour"]], dtype=np.float64)
        sums[y0:y0 + h, x0:x0 + w] += k[:, :, None] * col
        covered[y0:y0 + h, x0:x0 + w] += k
    if covered.max(initial=0) > SS * SS:
        raise ValueError("objects overlap; valid scenes keep a 3 px gap")
    bg = np.asarray(scene["bg"], dtype=np.float64)
    v = (sums + (SS * SS - covered)[:, :, None] * bg[None, None, :]) / (SS * SS)
    return np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Scene sampling


def box_gap(a: dict, b: dict) -> float:
    """Chebyshev gap between the boxes [c ± r]: the larger of the x gap and the y gap."""
    gx = max(b["cx"] - b["r"] - (a["cx"] + a["r"]), a["cx"] - a["r"] - (b["cx"] + b["r"]))
    gy = max(b["cy"] - b["r"] - (a["cy"] + a["r"]), a["cy"] - a["r"] - (b["cy"] + b["r"]))
    return max(gx, gy)


def relation_holds(a: dict, b: dict, rel: str) -> bool:
    """WORLD.md's generation rule for "A rel B" (image y grows downwards)."""
    need = 0.3 * (2 * a["r"] + 2 * b["r"]) + 2
    ox, oy = a["cx"] - b["cx"], a["cy"] - b["cy"]
    if rel in ("left of", "right of"):
        main, across = (-ox if rel == "left of" else ox), oy
    else:
        main, across = (-oy if rel == "above" else oy), ox
    return main > need and abs(across) < 0.5 * abs(main)


def relations_of(a: dict, b: dict) -> list[str]:
    return [rel for rel in RELATIONS if relation_holds(a, b, rel)]


def sample_background(rng: np.random.Generator) -> list[float]:
    g = rng.uniform(140.0, 185.0)
    return [float(g + rng.uniform(-6.0, 6.0)) for _ in range(3)]


def place(rng: np.random.Generator, count: int, tries: int = 10000) -> list[dict]:
    """`count` boxes uniformly over the valid placements (rejection sampling)."""
    lo, hi = radius_range(count)
    for _ in range(tries):
        objs = []
        for _ in range(count):
            r = rng.uniform(lo, hi)
            cx = rng.uniform(r + MARGIN, CANVAS - MARGIN - r)
            cy = rng.uniform(r + MARGIN, CANVAS - MARGIN - r)
            objs.append({"cx": float(cx), "cy": float(cy), "r": float(r)})
        if all(box_gap(objs[i], objs[j]) >= MIN_GAP for i in range(count) for j in range(i)):
            return objs
    raise RuntimeError(f"could not place {count} objects")


def training_colour(rng: np.random.Generator, shape: str, exclude: tuple[str, ...] = ()) -> str:
    """A colour for `shape` that keeps the held-out pairs out of training images."""
    allowed = [c for c in COLOURS if (c, shape) not in HELD_OUT_COLOUR_SHAPES and c not in exclude]
    return allowed[rng.integers(len(allowed))]


def two_shapes(rng: np.random.Generator) -> tuple[str, str]:
    i, j = rng.choice(len(SHAPES), size=2, replace=False)
    return SHAPES[i], SHAPES[j]


def caption_single(shape: str) -> str:
    return f"a photo of a {shape}"


def caption_two(a: str, b: str) -> str:
    return f"a photo of a {a} and a {b}"


def caption_counting(n: int, shape: str) -> str:
    return f"a photo of {COUNT_WORDS[n]} {PLURALS[shape]}"


def caption_colors(colour: str, shape: str) -> str:
    return f"a photo of {article(colour)} {colour} {shape}"


def caption_position(a: str, rel: str, b: str) -> str:
    return f"a photo of a {a} {rel} a {b}"


def caption_color_attr(ca: str, a: str, cb: str, b: str) -> str:
    return f"a photo of {article(ca)} {ca} {a} and {article(cb)} {cb} {b}"


def sample_training_scene(rng: np.random.Generator, category: str) -> tuple[dict, str]:
    """A training scene of `category` and its caption; no held-out combination is ever produced."""
    bg = sample_background(rng)
    if category in ("single_object", "colors"):
        shape = SHAPES[rng.integers(4)]
        colour = training_colour(rng, shape)
        objs = place(rng, 1)
        objs[0].update(shape=shape, colour=colour)
        cap = caption_single(shape) if category == "single_object" else caption_colors(colour, shape)
    elif category in ("two_object", "color_attr"):
        a, b = two_shapes(rng)
        ca = training_colour(rng, a)
        cb = training_colour(rng, b, exclude=(ca,) if category == "color_attr" else ())
        objs = place(rng, 2)
        objs[0].update(shape=a, colour=ca)
        objs[1].update(shape=b, colour=cb)
        cap = caption_two(a, b) if category == "two_object" else caption_color_attr(ca, a, cb, b)
    elif category == "counting":
        n = int(rng.integers(2, 5))
        shape = SHAPES[rng.integers(4)]
        objs = place(rng, n)
        for o in objs:
            o.update(shape=shape, colour=training_colour(rng, shape))
        cap = caption_counting(n, shape)
    elif category == "position":
        while True:
            a, b = two_shapes(rng)
            if (a, b) not in HELD_OUT_POSITION_PAIRS:
                break
        rel = RELATIONS[rng.integers(4)]
        while True:
            objs = place(rng, 2)
            if relation_holds(objs[0], objs[1], rel):
                break
        objs[0].update(shape=a, colour=training_colour(rng, a))
        objs[1].update(shape=b, colour=training_colour(rng, b))
        cap = caption_position(a, rel, b)
    else:
        raise ValueError(f"unknown category {category!r}")
    # Drawing order does not matter (objects never overlap); shuffle it so no caption order leaks in.
    order = rng.permutation(len(objs))
    scene = {"bg": bg, "objects": [{k: objs[i][k] for k in ("shape", "colour", "cx", "cy", "r")} for i in order]}
    return scene, cap


def scene_captions(scene: dict) -> list[str]:
    """Every training caption a scene supports (for sampling a caption per view of a cached scene)."""
    objs = scene["objects"]
    n = len(objs)
    shapes = [o["shape"] for o in objs]
    caps: list[str] = []
    if n == 1:
        caps += [caption_single(shapes[0]), caption_colors(objs[0]["colour"], shapes[0])]
    elif n >= 2 and len(set(shapes)) == 1:
        caps.append(caption_counting(n, shapes[0]))
    if n == 2 and shapes[0] != shapes[1]:
        for a, b in ((objs[0], objs[1]), (objs[1], objs[0])):
            caps.append(caption_two(a["shape"], b["shape"]))
            if a["colour"] != b["colour"]:
                caps.append(caption_color_attr(a["colour"], a["shape"], b["colour"], b["shape"]))
            if (a["shape"], b["shape"]) not in HELD_OUT_POSITION_PAIRS:
                caps += [caption_position(a["shape"], rel, b["shape"]) for rel in relations_of(a, b)]
    return caps


def check_training_scene(scene: dict) -> None:
    for o in scene["objects"]:
        if (o["colour"], o["shape"]) in HELD_OUT_COLOUR_SHAPES:
            raise AssertionError(f"held-out pair in a training scene: {o['colour']} {o['shape']}")


# ----------------------------------------------------------------------------------------------
# Every caption the world can produce (held-out ones included), for tokenising once.


def all_captions() -> list[str]:
    caps = [""]
    caps += [caption_single(s) for s in SHAPES]
    caps += [caption_two(a, b) for a in SHAPES for b in SHAPES if a != b]
    caps += [caption_counting(n, s) for n in (2, 3, 4) for s in SHAPES]
    caps += [caption_colors(c, s) for c in COLOURS for s in SHAPES]
    caps += [caption_position(a, rel, b) for a in SHAPES for b in SHAPES if a != b for rel in RELATIONS]
    caps += [caption_color_attr(ca, a, cb, b) for a in SHAPES for b in SHAPES if a != b for ca in COLOURS for cb in COLOURS if ca != cb]
    return caps


if __name__ == "__main__":
    import json
    import sys
    import time

    rng = np.random.default_rng(0)
    t0 = time.time()
    n = 0
    for i in range(600):
        scene, cap = sample_training_scene(rng, CATEGORIES[i % 6])
        check_training_scene(scene)
        render(scene)
        n += 1
    dt = time.time() - t0
    print(f"{n} scenes in {dt:.2f}s ({n / dt:.0f}/s); {len(all_captions())} distinct captions", file=sys.stderr)
    print(json.dumps(sample_training_scene(np.random.default_rng(1), "position")))
