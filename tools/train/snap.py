"""The VAE decoder taught to draw the scene the denoiser meant (run 20).

  python3 tools/train/snap.py pairs --checkpoint ~/.cache/mmdit-train/dit_init.pt --count 8192
                                                 → snap_pairs.pt (the sampler's latents, their clean scenes)
  python3 tools/train/decoder.py tune --pairs ~/.cache/mmdit-train/snap_pairs.pt --out ~/.cache/mmdit-train/vae_snap.pt
  python3 tools/train/snap.py show --pairs <pairs.pt> --grid-out /tmp/snap.png   pictures beside their snapped scenes
  python3 tools/train/snap.py check --count 600               the snapper gives back ground-truth scenes
  python3 tools/train/snap.py tune --pairs <pairs.pt> [--states 4,5]
                                                 the denoiser taught to land on snapped scenes (from the given states)

The shipped sampler lays out the right objects more often than the detector sees them: it draws
them as lumpy blobs that match no template at IoU 0.5 (README, runs 16–19). Run 17 tuned the decoder
towards the scene a latent was noised from, but from mid σ the sampler often lays out another scene,
so that target was the mean of several, and blurrier. Here the target follows the sampler's own
picture instead: each blob of the picture becomes a clean render of the shape its caption names, at
the blob's place, size and colour (`snap`), so the pair is consistent with the latent. Trained on
such pairs beside clean round trips (decoder.py tune), the decoder learns to draw a clean shape where
the denoiser drew a blob of it: a consistency decoder. The encoder, hence every latent the denoiser
learnt, is unchanged, and so is the VAE's architecture, which the engine runs as before.

Only training captions are sampled, and a snapped scene holding a held-out colour–shape pair is
dropped, so no target ever shows one. Pictures whose blobs do not match their caption's objects one
for one (merged blobs, specks left over, a missing object, two colours in one blob) are dropped too:
the decoder is taught to clean what the denoiser drew, not to add or remove objects.
"""
from __future__ import annotations

import argparse
import itertools
from collections import Counter
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from models import image_to_tensor  # noqa: E402
from pngio import grid, write_png  # noqa: E402
from decoder import load_pairs  # noqa: E402
from reward import anchor_rows, caption_category, caption_spec, sample_with_grad, scene_weights, training_captions  # noqa: E402
from sample import LatentDecoder, guided_velocity  # noqa: E402
from student import Conditioning, StudentTraining, teacher_and_student  # noqa: E402
from train import load_encoder, load_stage2  # noqa: E402
from vectors import sigmas  # noqa: E402
from world import (CANVAS, CATEGORIES, COLOUR_RGB, COLOURS, HELD_OUT_COLOUR_SHAPES, MARGIN, coverage,  # noqa: E402
                   relation_holds, render, sample_training_scene)

PAIRS = os.path.join(C.CACHE, "snap_pairs.pt")
PROTOTYPES = np.array([COLOUR_RGB[c] for c in COLOURS], dtype=np.float64)
# Blobs smaller than this are specks (the world's smallest object, a cross of r = 5, covers ~55 px).
MIN_BLOB = 16
# A second colour holding this share of a blob means two objects ran together.
SECOND_COLOUR = 0.25
# Below this IoU with the caption's shape a blob is not that shape drawn badly, but something else.
MIN_FIT = 0.3
R_MIN, R_MAX = 5.0, 10.0


def blobs(img: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The picture's foreground blobs (4-connected, as the world's detector finds them: pixels nearer
    a colour prototype than the background), each as a boolean mask; with the background colour and
    every pixel's nearest prototype."""
    x = img.astype(np.float64)
    border = np.concatenate([x[0], x[-1], x[1:-1, 0], x[1:-1, -1]])
    bg = np.median(border, axis=0)
    d_bg = ((x - bg) ** 2).sum(-1)
    d_p = ((x[:, :, None, :] - PROTOTYPES[None, None]) ** 2).sum(-1)
    label = d_p.argmin(-1)
    fg = d_p.min(-1) < d_bg
    seen = np.zeros(fg.shape, dtype=bool)
    h, w = fg.shape
    out = []
    for y0, x0 in zip(*np.nonzero(fg)):
        if seen[y0, x0]:
            continue
        mask = np.zeros(fg.shape, dtype=bool)
        stack = [(y0, x0)]
        seen[y0, x0] = True
        while stack:
            y, xx = stack.pop()
            mask[y, xx] = True
            for ny, nx in ((y - 1, xx), (y + 1, xx), (y, xx - 1), (y, xx + 1)):
                if 0 <= ny < h and 0 <= nx < w and fg[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        out.append(mask)
    return out, bg, label


def blob_colour(mask: np.ndarray, label: np.ndarray) -> str | None:
    """The blob's majority prototype over its eroded core (edge pixels blend with the background and
    fall nearer other prototypes), or None when a second colour is strong in it."""
    core = mask.copy()
    core[1:] &= mask[:-1]
    core[:-1] &= mask[1:]
    core[:, 1:] &= mask[:, :-1]
    core[:, :-1] &= mask[:, 1:]
    if not core.any():
        core = mask
    counts = np.bincount(label[core], minlength=len(COLOURS))
    order = np.argsort(-counts)
    if counts[order[1]] >= SECOND_COLOUR * core.sum():
        return None
    return COLOURS[int(order[0])]


def template(shape: str, cx: float, cy: float, r: float) -> np.ndarray:
    """Pixels at least half inside the shape, as the world renders it."""
    k, x0, y0 = coverage(shape, cx, cy, r)
    m = np.zeros((CANVAS, CANVAS), dtype=bool)
    m[y0:y0 + k.shape[0], x0:x0 + k.shape[1]] = k >= 8
    return m


def fit(mask: np.ndarray, shape: str) -> tuple[float, float, float, float]:
    """The best IoU of `shape` against the blob over a small search around its box: (iou, cx, cy, r)."""
    ys, xs = np.nonzero(mask)
    bx0, bx1, by0, by1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    cx0, cy0, r0 = (bx0 + bx1) / 2, (by0 + by1) / 2, max(bx1 - bx0, by1 - by0) / 2
    best = (-1.0, cx0, cy0, r0)
    for dr in (-1.0, -0.5, 0.0, 0.5):
        r = min(max(r0 + dr, R_MIN), R_MAX)
        for dx in (-1.0, 0.0, 1.0):
            for dy in (-1.0, 0.0, 1.0):
                cx, cy = cx0 + dx, cy0 + dy
                t = template(shape, cx, cy, r)
                iou = (t & mask).sum() / max((t | mask).sum(), 1)
                if iou > best[0]:
                    best = (float(iou), cx, cy, r)
    return best


def snap(img: np.ndarray, caption: str) -> dict | None:
    """The clean scene the picture draws for `caption`, or None when its blobs are not the caption's
    objects one for one (README, run 20)."""
    spec = caption_spec(caption)
    wanted = [s for s, n in spec["counts"].items() for _ in range(n)]
    masks, bg, label = blobs(img)
    masks = [m for m in masks if m.sum() >= MIN_BLOB]
    if len(masks) != len(wanted):
        return None
    colours = [blob_colour(m, label) for m in masks]
    if any(c is None for c in colours):
        return None
    best, best_score = None, -1.0
    for order in sorted(set(itertools.permutations(wanted))):  # sorted: seeded runs repeat exactly
        fits = [fit(m, s) for m, s in zip(masks, order)]
        if min(f[0] for f in fits) < MIN_FIT:
            continue
        objs = [{"shape": s, "colour": c, "cx": f[1], "cy": f[2], "r": f[3]} for s, c, f in zip(order, colours, fits)]
        score = sum(f[0] for f in fits)
        # Where the caption names colours or a relation, the assignment that keeps them is preferred.
        score += 0.5 * sum(spec["colours"].get(o["shape"]) == o["colour"] for o in objs)
        if spec["relation"]:
            a, rel, b = spec["relation"]
            oa = next(o for o in objs if o["shape"] == a)
            ob = next(o for o in objs if o["shape"] == b)
            score += 0.5 * relation_holds(oa, ob, rel)
        if score > best_score:
            best, best_score = objs, score
    if best is None:
        return None
    for o in best:
        if (o["colour"], o["shape"]) in HELD_OUT_COLOUR_SHAPES:
            return None
        # WORLD.md keeps every box 1 px inside the canvas.
        o["cx"] = float(min(max(o["cx"], o["r"] + MARGIN), CANVAS - MARGIN - o["r"]))
        o["cy"] = float(min(max(o["cy"], o["r"] + MARGIN), CANVAS - MARGIN - o["r"]))
    return {"bg": [float(v) for v in bg], "objects": best}


def render_or_none(scene: dict) -> np.ndarray | None:
    try:
        return render(scene)
    except ValueError:  # snapped objects that overlap
        return None


@torch.no_grad()
def make_pairs(a) -> None:
    model, _ = load_stage2(a.checkpoint)
    conds = Conditioning(model)
    decoder = LatentDecoder(a.vae)
    data = torch.load(os.path.join(C.CACHE, "latents.pt"))
    captions = data["captions"]
    rng, gen = np.random.default_rng(a.seed), torch.Generator().manual_seed(a.seed)
    scene_p = scene_weights(captions, {c: 1.0 for c in CATEGORIES})
    sig = sigmas(a.steps, a.shift)
    ctx_u, pooled_u = conds([""])
    lat, targets, pictures, caps_kept, trajectories = [], [], [], [], []
    per_cat: dict[str, list[int]] = {}
    t0 = time.time()
    for i in range(0, a.count, 64):
        caps = training_captions(rng, captions, min(64, a.count - i), scene_p)
        ctx, pooled = conds(caps)
        n = len(caps)
        states: list[torch.Tensor] = []
        x = sample_with_grad(model, torch.randn(n, 16, 8, 8, generator=gen) * sig[0], sig, ctx, pooled,
                             ctx_u.expand(n, -1, -1), pooled_u.expand(n, -1), a.guidance, states)
        states = torch.stack(states, 1)
        imgs = decoder(x)
        for k in range(n):
            scene = snap(imgs[k], caps[k])
            target = render_or_none(scene) if scene else None
            per_cat.setdefault(caption_category(caps[k]), []).append(target is not None)
            if target is None:
                continue
            lat.append(x[k].to(torch.float16))
            trajectories.append(states[k].to(torch.float16))
            targets.append(torch.from_numpy(target))
            pictures.append(torch.from_numpy(imgs[k]))
            caps_kept.append(caps[k])
        if (i // 64) % 16 == 15:
            print(f"{i + n} sampled, {len(lat)} snapped, {time.time() - t0:.0f}s", flush=True)
    C.save_atomic({"latents": torch.stack(lat), "images": torch.stack(targets), "pictures": torch.stack(pictures),
                   "states": torch.stack(trajectories), "sigmas": sig, "guidance": a.guidance,
                   "captions": caps_kept, "start_steps": torch.zeros(len(lat), dtype=torch.long),
                   "checkpoint": a.checkpoint, "steps": a.steps, "shift": a.shift}, a.out)
    shares = " ".join(f"{c} {np.mean(v):.2f}" for c, v in sorted(per_cat.items()))
    print(f"{len(lat)} of {a.count} pictures snapped ({shares}) in {time.time() - t0:.0f}s → {a.out}")


def tune(a) -> None:
    """The denoiser taught to land where the snapped scenes are, from the noise it started from: at
    every state of the sampler's trajectory that made a snapped picture, the student's estimate of the
    final latent, x − σ·v, is held to the snapped scene's latent (reflow on the sampler's own coupling,
    its endpoints cleaned). Anchor rows hold the rest of the sampler to the teacher's."""
    log = os.path.join(C.CACHE, "snap.log")
    teacher, student = teacher_and_student(a.checkpoint)
    conds = Conditioning(student)
    d = load_pairs(a.pairs)
    if "states" not in d:
        raise SystemExit("snap.py tune needs pairs with their sampler states (snap.py pairs writes them)")
    states, caps, sig = d["states"], d["captions"], d["sigmas"]
    # Which of each trajectory's states train (default all); the anchor rows still cover every state.
    use = list(range(states.shape[1])) if a.states is None else a.states
    if not use or any(not 0 <= k < states.shape[1] for k in use):
        raise SystemExit(f"--states: indices in 0…{states.shape[1] - 1} (the pairs' trajectories have {states.shape[1]} states), got {use}")
    stats = C.load_json(os.path.join(C.CACHE, "vae_stats.json"))
    encoder = load_encoder()
    with torch.no_grad():
        images = d["images"]
        target = torch.cat([encoder(image_to_tensor(images[i:i + 256]))[0] for i in range(0, images.shape[0], 256)])
        target = (target - stats["shift"]) * stats["scale"]
    # Each category equally likely, as the pairs keep far more single objects than counts.
    pair_p = scene_weights([[c] for c in caps], {})
    per = dict(Counter(caption_category(c) for c in caps))
    data = torch.load(os.path.join(C.CACHE, "latents.pt"))
    run = StudentTraining(student, os.path.join(C.CACHE, "snap_dit.pt"), a.lr, a.ema, a.seed + 3, a.resume, 240.0)
    rng, gen = run.rng, run.gen
    ctx_u, pooled_u = conds([""])
    n_steps = len(use)
    sig_rows = torch.tensor([sig[k] for k in use], dtype=torch.float32)
    a.anchor_guidance = a.guidance
    C.log_line(log, f"snap tune: {states.shape[0]} pairs ({per}), batch {a.batch} x states {use} + {a.anchor_rows} anchor "
                    f"trajectories, lr {a.lr}, {a.tune_steps} steps")
    while run.step < a.tune_steps:
        run.schedule(a.tune_steps, a.lr, 20)
        j = rng.choice(states.shape[0], size=a.batch, p=pair_p)
        x = states[j][:, use].float().reshape(-1, 16, 8, 8)
        sigma = sig_rows.repeat(a.batch)
        ctx, pooled = conds([caps[i] for i in j])
        ctx, pooled = ctx.repeat_interleave(n_steps, 0), pooled.repeat_interleave(n_steps, 0)
        v = guided_velocity(student, x, sigma, ctx, pooled, None, None, 1.0)
        x0 = x - sigma[:, None, None, None] * v
        z = target[torch.from_numpy(j)].repeat_interleave(n_steps, 0)
        loss_snap = ((x0 - z) ** 2).mean()
        loss, terms = loss_snap, {"snap": loss_snap.item()}
        if a.anchor_rows:
            loss_a = anchor_rows(teacher, student, conds, training_captions(rng, data["captions"], a.anchor_rows), sig,
                                 ctx_u, pooled_u, gen, a)
            loss = loss + a.anchor_weight * loss_a
            terms["anchor"] = loss_a.item()
        run.update(loss)
        run.record(terms, a.tune_steps, log, a.keep, "snap_dit")
    C.log_line(log, f"snap tune done: {run.step} steps, wall {time.time() - run.started:.0f}s")


def check(a) -> None:
    """The snapper on ground-truth renders of training scenes: it must give back every scene's objects
    (shape and colour) at their places, within 1.5 px of centre and size per object."""
    rng = np.random.default_rng(a.seed)
    wrong = []
    for i in range(a.count):
        scene, caption = sample_training_scene(rng, CATEGORIES[i % len(CATEGORIES)])
        got = snap(render(scene), caption)
        if got is None:
            wrong.append(f"{caption}: not snapped")
            continue
        want = sorted((o["shape"], o["colour"]) for o in scene["objects"])
        if sorted((o["shape"], o["colour"]) for o in got["objects"]) != want:
            wrong.append(f"{caption}: {want} snapped as {[(o['shape'], o['colour']) for o in got['objects']]}")
            continue
        for o in scene["objects"]:
            err = min(max(abs(o["cx"] - p["cx"]), abs(o["cy"] - p["cy"]), abs(o["r"] - p["r"])) for p in got["objects"]
                      if (p["shape"], p["colour"]) == (o["shape"], o["colour"]))
            if err > 1.5:
                wrong.append(f"{caption}: {o['shape']} off by {err:.2f} px")
    print(f"snap check: {a.count - len(wrong)} of {a.count} ground-truth scenes snapped back exactly")
    for w in wrong[:10]:
        print("  " + w)
    if wrong:
        raise SystemExit(1)


def show(a) -> None:
    d = load_pairs(a.pairs)
    n = min(a.show, d["images"].shape[0])
    rows = []
    for k in range(n):
        rows += [d["pictures"][k].numpy(), d["images"][k].numpy()]
    write_png(a.grid_out, grid(np.stack(rows), 8, 2))
    print(f"wrote {a.grid_out}: {n} pictures and their snapped scenes; captions: {d['captions'][:n]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["pairs", "show", "tune", "check"])
    ap.add_argument("--checkpoint", default=os.path.join(C.CACHE, "dit_init.pt"), help="pairs: the denoiser whose latents are snapped")
    ap.add_argument("--vae", default=None, help="pairs: the VAE whose decoder makes the pictures that are snapped (default vae.pt)")
    ap.add_argument("--count", type=int, default=8192)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--guidance", type=float, default=1.0)
    ap.add_argument("--shift", type=float, default=3.0)
    ap.add_argument("--out", default=PAIRS, help="pairs: where to write them")
    ap.add_argument("--pairs", default=PAIRS, help="show: which pairs")
    ap.add_argument("--grid-out", default="/tmp/snap.png")
    ap.add_argument("--show", type=int, default=32)
    ap.add_argument("--tune-steps", type=int, default=300, help="tune: training steps")
    ap.add_argument("--batch", type=int, default=16, help="tune: snapped trajectories per step")
    ap.add_argument("--states", type=lambda t: [int(x) for x in t.split(",")], default=None,
                    help="tune: which states of each trajectory train, 0 = pure noise (default all)")
    ap.add_argument("--anchor-rows", type=int, default=8, help="tune: teacher trajectories per step (reward.py's anchor rows)")
    ap.add_argument("--anchor-weight", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--keep", type=lambda t: {int(x) for x in t.split(",") if x}, default=set())
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--seed", type=int, default=2468)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    {"pairs": make_pairs, "tune": tune, "check": check, "show": show}[a.cmd](a)


if __name__ == "__main__":
    main()
