"""Reward tuning: the engine's own few-step sampler trained end to end against a judge of the world (runs 13–14).

  python3 tools/train/reward.py judge [--steps 1500]                      → judge.pt (trained further if it exists)
  python3 tools/train/reward.py pictures --checkpoint <ck> [--count 1024]  → judge_pictures.pt (the pool)
  python3 tools/train/reward.py agreement --scored <dir>                   the judge against the detector's verdicts
  python3 tools/train/reward.py tune [--teacher dit_init.pt] [--steps 400] [--keep 100,200,300] [--resume]
                                                                          → reward.pt, reward_<step>.pt
  python3 tools/train/reward.py tune --guidance 1 --anchor-rows 32 --reward-weight 0 --fm-rows 0
                                                                          guidance distillation alone (run 14)
  python3 tools/train/reward.py tune ... --category-weights position=2,color_attr=2
                                                                          reward batches drawn more often from those categories

Runs 7–12 all trained the denoiser towards a target picture (the conditional mean, a teacher's
picture, a coupled scene) and scored the sampler only afterwards. Here the score itself is the loss:
noise goes through the sampler the engine runs (4 Euler steps, CFG, shift 3), the VAE decoder makes
the picture, and a differentiable judge says how far it is from its caption; the gradient flows back
through the decoder and all four steps into the denoiser (as DRaFT does with a reward model).

The judge is a small convolutional net on 64×64 pictures. On a 16×16 grid of 4×4-pixel cells it
predicts which shape covers each cell, which colour, and where each object's centre lies. From those
maps the caption's demands are losses:
- count: per shape, the sum of centre probabilities against the caption's count (0 for shapes it
  does not name, as the world renders exactly what a caption says);
- colour: the colour mass inside a shape's mass, against the named colour;
- relation: the shapes' mass centroids, against WORLD.md's margins.
It learns from rendered training scenes (held-out pairs never appear), lightly blurred and noised,
and from a pool of the sampler's own pictures labelled with what the world's detector
(tools/world/judge.ts) finds in them: a blob the detector does not accept as a shape is background
to the judge. A judge trained on renders alone is fooled within 100 tuning steps (dark frames and
smears read as squares), so every `--refresh-every` steps the student's newest pictures join the
pool and the judge trains on for a while.
Colour is read per cell, whatever the shape, so the judge scores held-out pairs as it scores trained
ones; the tuning itself uses training captions only.

Rows of stage 2's own loss on fresh noise join each batch (`--fm-rows`, `--fm-weight`), so the model stays a flow
model and the empty-prompt branch stays where stage 2 left it. Anchor rows (`--anchor-rows`) instead hold
the student's velocity to a frozen teacher's guided one on the teacher's own sampler states; with the
student's sampler at guidance 1 they distil the teacher's CFG sampler into the conditional rows alone
(run 14), and stage 2's rows, which pull those rows back to the unguided mean, are left out. Checkpoints go to the cache folder:
judge.pt, and reward.pt ({"model", "ema", "step"}, as sample.py and export.py read them).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from models import image_to_tensor  # noqa: E402
from pngio import write_png  # noqa: E402
from sample import LatentDecoder, guided_velocity  # noqa: E402
from student import Conditioning, StudentTraining, stage2_rows, teacher_and_student  # noqa: E402
from train import lr_at  # noqa: E402
from vectors import sigmas  # noqa: E402
from world import (CATEGORIES, COLOURS, COUNT_WORDS, PLURALS, SHAPES, coverage, render,  # noqa: E402
                   sample_training_scene)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CELL = 4
GRID = 64 // CELL
# Cell centres in pixels, for the mass centroids of the relation loss.
CELL_CENTRES = (torch.arange(GRID, dtype=torch.float32) + 0.5) * CELL


# ----------------------------------------------------------------------------------------------
# The judge


class Residual(nn.Module):
    def __init__(self, ch: int, dilation: int):
        super().__init__()
        self.a = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation)
        self.b = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation)
        self.norm = nn.GroupNorm(8, ch)

    def forward(self, x):
        return x + self.b(F.gelu(self.a(F.gelu(self.norm(x)))))


class Judge(nn.Module):
    """64×64 picture in [-1, 1] → per-cell logits on the 16×16 grid: shape (background + 4),
    colour (background + 8) and one centre logit per shape."""

    def __init__(self, ch: int = 64):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 24, 3, padding=1), nn.GELU(),
            nn.Conv2d(24, 32, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.GELU(),
            nn.Conv2d(32, ch, 3, stride=2, padding=1))
        self.body = nn.Sequential(*[Residual(ch, d) for d in (1, 2, 4, 1)])
        self.head = nn.Conv2d(ch, 1 + len(SHAPES) + 1 + len(COLOURS) + len(SHAPES), 1)
        with torch.no_grad():
            # Centres are rare (at most 4 cells of 256): start their logits there.
            self.head.bias[-len(SHAPES):].fill_(-5.0)

    def forward(self, x):
        y = self.head(F.gelu(self.body(self.stem(x))))
        s, c = 1 + len(SHAPES), 1 + len(COLOURS)
        return y[:, :s], y[:, s:s + c], y[:, s + c:]


def scene_targets(scene: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A scene's per-cell targets: the share of each cell's pixels per shape and per colour (index 0
    is the background; a pixel belongs to an object when at least half its samples are inside), and
    a 0/1 map of the cell holding each object's centre, per shape."""
    shape_px = np.zeros((64, 64), dtype=np.int64)
    colour_px = np.zeros((64, 64), dtype=np.int64)
    centres = np.zeros((len(SHAPES), GRID, GRID), dtype=np.float32)
    for o in scene["objects"]:
        k, x0, y0 = coverage(o["shape"], float(o["cx"]), float(o["cy"]), float(o["r"]))
        h, w = k.shape
        on = k >= 8
        shape_px[y0:y0 + h, x0:x0 + w][on] = 1 + SHAPES.index(o["shape"])
        colour_px[y0:y0 + h, x0:x0 + w][on] = 1 + COLOURS.index(o["colour"])
        # A detection in a sampled picture may reach past the canvas; its centre cell is clamped to it.
        row, col = (min(max(int(v // CELL), 0), GRID - 1) for v in (o["cy"], o["cx"]))
        centres[SHAPES.index(o["shape"]), row, col] = 1.0

    def shares(px: np.ndarray, classes: int) -> np.ndarray:
        one = np.eye(classes, dtype=np.float32)[px]  # [64, 64, classes]
        return one.reshape(GRID, CELL, GRID, CELL, classes).mean(axis=(1, 3)).transpose(2, 0, 1)

    return shares(shape_px, 1 + len(SHAPES)), shares(colour_px, 1 + len(COLOURS)), centres


def judge_batch(rng: np.random.Generator, gen: torch.Generator, n: int, pool: dict | None = None, share: float = 0.5):
    """n pictures with their targets: rendered training scenes (categories uniform), degraded a little
    as the sampler's pictures are (Gaussian blur of up to 1.5 px, noise); and, with a pool, a share of
    the sampler's own pictures labelled with what the world's detector found in them."""
    n_pool = int(round(n * share)) if pool and len(pool["objects"]) else 0
    imgs, st, ct, zt = [], [], [], []
    for i in range(n):
        if i < n_pool:
            k = int(rng.integers(len(pool["objects"])))
            imgs.append(pool["images"][k])
            scene = {"objects": pool["objects"][k]}
        else:
            scene, _ = sample_training_scene(rng, CATEGORIES[rng.integers(len(CATEGORIES))])
            imgs.append(render(scene))
        s, c, z = scene_targets(scene)
        st.append(s)
        ct.append(c)
        zt.append(z)
    x = image_to_tensor(torch.from_numpy(np.stack(imgs)))
    blur = torch.rand(n, generator=gen) * 1.5
    for i in range(n_pool, n):
        if blur[i] > 0.3:
            x[i] = gaussian_blur(x[i:i + 1], float(blur[i]))[0]
    noise = torch.rand(n, 1, 1, 1, generator=gen) * 0.08
    noise[:n_pool] = 0
    x = x + torch.randn(x.shape, generator=gen) * noise
    return x, torch.from_numpy(np.stack(st)), torch.from_numpy(np.stack(ct)), torch.from_numpy(np.stack(zt))


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(2 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
    k = k / k.sum()
    ch = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(ch, 1, 1, 1), groups=ch)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(ch, 1, 1, 1), groups=ch)


def judge_loss(judge: Judge, x, st, ct, zt) -> tuple[torch.Tensor, dict]:
    s, c, z = judge(x)
    ls = -(st * F.log_softmax(s, dim=1)).sum(1).mean()
    lc = -(ct * F.log_softmax(c, dim=1)).sum(1).mean()
    lz = F.binary_cross_entropy_with_logits(z, zt, reduction="sum") / x.shape[0]
    with torch.no_grad():
        count_err = (torch.sigmoid(z).sum((2, 3)) - zt.sum((2, 3))).abs().mean().item()
    return ls + lc + 0.1 * lz, {"shape": ls.item(), "colour": lc.item(), "centre": lz.item(), "count_err": count_err}


def frozen(module: nn.Module) -> nn.Module:
    """The module in eval mode with its gradients off (gradients still flow through it to its input)."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


class JudgeTrainer:
    """The judge, its optimizer and data streams, resumable from judge.pt."""

    def __init__(self, a, log: str):
        self.path = os.path.join(C.CACHE, "judge.pt")
        self.log = log
        self.judge = Judge()
        self.opt = torch.optim.AdamW(self.judge.parameters(), lr=a.judge_lr, weight_decay=0.01)
        self.rng, self.gen = np.random.default_rng(a.seed), torch.Generator().manual_seed(a.seed)
        self.step = 0
        if os.path.exists(self.path):
            ck = torch.load(self.path)
            self.judge.load_state_dict(ck["model"])
            self.opt.load_state_dict(ck["opt"])
            self.rng.bit_generator.state = ck["rng"]
            self.gen.set_state(ck["gen"])
            self.step = ck["step"]

    def train(self, steps: int, batch: int, lr: float, pool: dict | None, warmup: int = 0) -> None:
        """`steps` more steps on a cosine from `lr` (pool pictures half of each batch, if any)."""
        self.judge.train()
        for p in self.judge.parameters():
            p.requires_grad_(True)
        t0, acc, n_acc = time.time(), {}, 0
        for k in range(steps):
            for g in self.opt.param_groups:
                g["lr"] = lr_at(k, steps, lr, warmup)
            loss, parts = judge_loss(self.judge, *judge_batch(self.rng, self.gen, batch, pool))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            for key, v in parts.items():
                acc[key] = acc.get(key, 0.0) + v
            n_acc += 1
            if (k + 1) % 50 == 0 or k + 1 == steps:
                C.log_line(self.log, f"judge step {self.step} " + " ".join(f"{key} {v / n_acc:.4f}" for key, v in acc.items())
                           + f" elapsed {time.time() - t0:.0f}s")
                acc, n_acc = {}, 0
        self.save()
        frozen(self.judge)

    def save(self) -> None:
        C.save_atomic({"model": self.judge.state_dict(), "opt": self.opt.state_dict(), "rng": self.rng.bit_generator.state,
                       "gen": self.gen.get_state(), "step": self.step}, self.path)


def train_judge(a) -> None:
    """Stage 1 of the judge: rendered scenes only (judge.pt; an existing one is trained further)."""
    log = os.path.join(C.CACHE, "judge.log")
    t = JudgeTrainer(a, log)
    C.log_line(log, f"judge: {sum(p.numel() for p in t.judge.parameters())} parameters, from step {t.step}, "
                    f"steps {a.steps} batch {a.batch} lr {a.judge_lr}")
    t.train(a.steps, a.batch, a.judge_lr, load_pool(), warmup=100)


# ----------------------------------------------------------------------------------------------
# The sampler's own pictures, labelled by the world's detector


def pool_path() -> str:
    return os.path.join(C.CACHE, "judge_pictures.pt")


def load_pool() -> dict:
    if os.path.exists(pool_path()):
        return torch.load(pool_path())
    return {"images": np.zeros((0, 64, 64, 3), dtype=np.uint8), "objects": []}


def detector_objects(images: np.ndarray, captions: list[str], work: str) -> list[list[dict]]:
    """What tools/world/judge.ts's detector finds in each picture, as scene objects."""
    os.makedirs(work, exist_ok=True)
    entries = []
    for i, (im, cap) in enumerate(zip(images, captions)):
        write_png(os.path.join(work, f"p{i:05d}.png"), im)
        entries.append({"id": f"p{i:05d}", "prompt": cap})
    prompts = os.path.join(work, "prompts.json")
    C.write_json(prompts, entries)
    found = os.path.join(work, "detections.json")
    res = subprocess.run(["npx", "vite-node", "tools/world/judge.ts", "--", "--prompts", prompts, "--images", work,
                          "--out", os.path.join(work, "verdicts.json"), "--detections", found],
                         cwd=REPO, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"tools/world/judge.ts failed: {res.stderr.strip()}")
    dets = C.load_json(found)
    return [[{k: d[k] for k in ("shape", "colour", "cx", "cy", "r")} for d in dets[e["id"]]] for e in entries]


@torch.no_grad()
def add_pictures(model, conds: Conditioning, decoder: LatentDecoder, captions: list[str], gen: torch.Generator,
                 a, log: str) -> float:
    """Samples pictures of `captions` with the engine's sampler, labels them with the detector and
    appends them to the pool (the newest `--pool` kept). Returns the share the detector judges correct."""
    sig = sigmas(a.sampler_steps, a.shift)
    ctx_u, pooled_u = conds([""])
    imgs = []
    for i in range(0, len(captions), 64):
        caps = captions[i:i + 64]
        ctx, pooled = conds(caps)
        x = sample_with_grad(model, torch.randn(len(caps), 16, 8, 8, generator=gen) * sig[0], sig, ctx, pooled,
                             ctx_u.expand(len(caps), -1, -1), pooled_u.expand(len(caps), -1), a.guidance)
        imgs.append(decoder(x))
    imgs = np.concatenate(imgs)
    objects = detector_objects(imgs, captions, os.path.join(C.CACHE, "judge_work"))
    verdicts = C.load_json(os.path.join(C.CACHE, "judge_work", "verdicts.json"))
    pool = load_pool()
    pool = {"images": np.concatenate([pool["images"], imgs])[-a.pool:], "objects": (pool["objects"] + objects)[-a.pool:]}
    C.save_atomic(pool, pool_path())
    right = sum(verdicts.values()) / len(verdicts)
    C.log_line(log, f"pool: +{len(captions)} pictures ({right:.3f} judged correct by the detector), {len(pool['objects'])} in all")
    return right


def pictures(a) -> None:
    """Pictures of a checkpoint's sampler into the pool (e.g. run 6's, before tuning)."""
    from train import load_stage2
    log = os.path.join(C.CACHE, "reward.log")
    model, _ = load_stage2(a.checkpoint)
    conds = Conditioning(model)
    rng, gen = np.random.default_rng(a.seed + 5), torch.Generator().manual_seed(a.seed + 5)
    captions = torch.load(os.path.join(C.CACHE, "latents.pt"))["captions"]
    add_pictures(model, conds, LatentDecoder(), training_captions(rng, captions, a.count), gen, a, log)


def training_captions(rng: np.random.Generator, captions: list[list[str]], n: int,
                      scene_p: np.ndarray | None = None) -> list[str]:
    """n training captions as stage 2 draws them from the cached scenes' (never a held-out combination);
    `scene_p`, when given, is each scene's probability of being drawn (scene_weights)."""
    rows = rng.integers(len(captions), size=n) if scene_p is None else rng.choice(len(captions), size=n, p=scene_p)
    return [C.pick_caption(rng, captions[i]) for i in rows]


def caption_category(caption: str) -> str:
    """Which of the six categories a caption of the world's templates belongs to."""
    spec = caption_spec(caption)
    if spec["relation"]:
        return "position"
    if len(spec["counts"]) == 2:
        return "color_attr" if spec["colours"] else "two_object"
    if max(spec["counts"].values()) > 1:
        return "counting"
    return "colors" if spec["colours"] else "single_object"


def scene_weights(captions: list[list[str]], weights: dict[str, float]) -> np.ndarray:
    """Each cached scene's probability of being drawn when the categories its caption was drawn for
    (opts[0]) are weighted as `weights` says (1 for those it leaves out): a category's total share
    scales with its weight, whatever its share of the cache."""
    cats = [caption_category(opts[0]) for opts in captions]
    per = {c: cats.count(c) for c in set(cats)}
    p = np.array([weights.get(c, 1.0) / per[c] for c in cats])
    return p / p.sum()


def parse_category_weights(text: str) -> dict[str, float]:
    """"position=2,color_attr=2" → {"position": 2.0, "color_attr": 2.0}; names must be categories."""
    out = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if name not in CATEGORIES or not value:
            raise SystemExit(f"--category-weights: {item!r} is not <category>=<weight>; categories are {', '.join(CATEGORIES)}")
        out[name] = float(value)
        if not out[name] > 0:
            raise SystemExit(f"--category-weights: the weight of {name} must be > 0, got {value}")
    return out


def load_judge() -> Judge:
    judge = Judge()
    judge.load_state_dict(torch.load(os.path.join(C.CACHE, "judge.pt"))["model"])
    return frozen(judge)


@torch.no_grad()
def agreement(a) -> None:
    """How well the judge's loss ranks pictures as the detector judges them: an evaluation folder
    (`npm run eval -- --images <dir>/img --out-dir <dir>/ev …`; its results.jsonl has the verdicts)."""
    from pngio import read_png
    rows = [json.loads(line) for line in open(os.path.join(a.scored, "ev", "results.jsonl"))]
    imgs = np.stack([read_png(os.path.join(a.scored, "img", f"{r['id']}.png")) for r in rows])
    out = load_judge()(image_to_tensor(torch.from_numpy(imgs)))
    losses = np.array([caption_loss(out[0][i:i + 1], out[1][i:i + 1], out[2][i:i + 1], [caption_spec(r["prompt"])])[0].item()
                       for i, r in enumerate(rows)])
    ok = np.array([r["correct"] for r in rows])
    auc = (losses[ok][:, None] < losses[~ok][None, :]).mean()
    print(f"{len(rows)} pictures, {ok.mean():.3f} correct; judge loss {losses[ok].mean():.3f} on correct ones, "
          f"{losses[~ok].mean():.3f} on the others; AUC {auc:.3f}")


# ----------------------------------------------------------------------------------------------
# What a caption demands, and the judge's loss for it

SHAPE_WORDS = {**{s: s for s in SHAPES}, **{p: s for s, p in PLURALS.items()}}
NUMBERS = {w: n for n, w in COUNT_WORDS.items()}
OBJECT = r"(?:an? )?(?:(" + "|".join(COLOURS) + r") )?(" + "|".join(SHAPES) + r")"


def caption_spec(caption: str) -> dict:
    """A caption of the six templates → {"counts": {shape: n}, "colours": {shape: colour},
    "relation": (A, rel, B) or None}."""
    body = caption.removeprefix("a photo of ")
    m = re.fullmatch(r"(two|three|four) (\w+)", body)
    if m and m.group(2) in PLURALS.values():
        return {"counts": {SHAPE_WORDS[m.group(2)]: NUMBERS[m.group(1)]}, "colours": {}, "relation": None}
    m = re.fullmatch(OBJECT + r" (left of|right of|above|below) " + OBJECT, body)
    if m:
        return {"counts": {m.group(2): 1, m.group(5): 1}, "colours": {}, "relation": (m.group(2), m.group(3), m.group(5))}
    m = re.fullmatch(OBJECT + r"(?: and " + OBJECT + r")?", body)
    if not m:
        raise ValueError(f"caption {caption!r} is none of the world's templates")
    counts, colours = {m.group(2): 1}, {}
    if m.group(1):
        colours[m.group(2)] = m.group(1)
    if m.group(4):
        counts[m.group(4)] = 1
        if m.group(3):
            colours[m.group(4)] = m.group(3)
    return {"counts": counts, "colours": colours, "relation": None}


def caption_loss(shape_logits, colour_logits, centre_logits, specs: list[dict]) -> tuple[torch.Tensor, dict]:
    """The judge's maps of a batch of pictures against their captions' demands; mean over the batch."""
    ps = torch.softmax(shape_logits, dim=1)
    pc = torch.softmax(colour_logits, dim=1)
    counts = torch.sigmoid(centre_logits).sum((2, 3))  # [B, 4]
    total, parts = [], {"count": 0.0, "colour": 0.0, "relation": 0.0}
    for i, spec in enumerate(specs):
        want = torch.tensor([float(spec["counts"].get(s, 0)) for s in SHAPES])
        l_count = ((counts[i] - want) ** 2).sum()
        l_colour = torch.zeros(())
        for shape, colour in spec["colours"].items():
            mass = ps[i, 1 + SHAPES.index(shape)]
            share = (mass * pc[i, 1 + COLOURS.index(colour)]).sum() / (mass.sum() + 1e-3)
            l_colour = l_colour - torch.log(share + 1e-3)
        l_rel = torch.zeros(())
        if spec["relation"]:
            a, rel, b = spec["relation"]
            ca, cb = centroid(ps[i, 1 + SHAPES.index(a)]), centroid(ps[i, 1 + SHAPES.index(b)])
            off = ca - cb  # (x, y); image y grows downwards
            main, across = {"left of": (-off[0], off[1]), "right of": (off[0], off[1]),
                            "above": (-off[1], off[0]), "below": (off[1], off[0])}[rel]
            # WORLD.md's margin for radii of 8 px is 11.6 px; aim a little past it.
            l_rel = F.relu(14.0 - main) / 8.0 + F.relu(across.abs() - 0.4 * main.abs()) / 8.0
        total.append(l_count + l_colour + l_rel)
        parts["count"] += l_count.item()
        parts["colour"] += l_colour.item()
        parts["relation"] += float(l_rel)
    return torch.stack(total).mean(), {k: v / len(specs) for k, v in parts.items()}


def centroid(mass: torch.Tensor) -> torch.Tensor:
    """The (x, y) centroid in pixels of a [16, 16] mass map."""
    m = mass.sum() + 1e-3
    return torch.stack([(mass.sum(0) * CELL_CENTRES).sum() / m, (mass.sum(1) * CELL_CENTRES).sum() / m])


# ----------------------------------------------------------------------------------------------
# Tuning the sampler


def sample_with_grad(model, x, sig, ctx, pooled, ctx_u, pooled_u, guidance: float,
                     states: list[torch.Tensor] | None = None) -> torch.Tensor:
    """The engine's sampler (Euler, CFG) from noise `x` at σ sig[0], keeping the graph; the state
    before each step is appended to `states`, when given."""
    for k in range(len(sig) - 1):
        if states is not None:
            states.append(x)
        x = x + guided_velocity(model, x, sig[k], ctx, pooled, ctx_u, pooled_u, guidance) * (sig[k + 1] - sig[k])
    return x


def anchor_rows(teacher, student, conds: Conditioning, caps: list[str], sig: list[float], ctx_u, pooled_u,
                gen: torch.Generator, a) -> torch.Tensor:
    """The student's velocity at the sampler's guidance (`--guidance`) against the frozen teacher's at
    `--anchor-guidance`, at every state of the teacher's own sampler trajectories for `caps`. With the
    student at guidance 1 this is guidance distillation: the student learns the teacher's guided
    sampler in its conditional rows alone, and the engine skips the empty-prompt rows at guidance 1,
    which halves the denoiser's rows per step (run 14)."""
    n = len(caps)
    ctx, pooled = conds(caps)
    cu, pu = ctx_u.expand(n, -1, -1), pooled_u.expand(n, -1)
    states, at, targets = [], [], []
    with torch.no_grad():
        x = torch.randn(n, 16, 8, 8, generator=gen) * sig[0]
        for k in range(len(sig) - 1):
            v = guided_velocity(teacher, x, sig[k], ctx, pooled, cu, pu, a.anchor_guidance)
            states.append(x)
            at.append(torch.full((n,), sig[k]))
            targets.append(v)
            x = x + v * (sig[k + 1] - sig[k])
    m = len(states)
    v = guided_velocity(student, torch.cat(states), torch.cat(at), ctx.repeat(m, 1, 1), pooled.repeat(m, 1),
                        cu.repeat(m, 1, 1), pu.repeat(m, 1), a.guidance)
    return ((v - torch.cat(targets)) ** 2).mean()


def tune(a) -> None:
    log = os.path.join(C.CACHE, "reward.log")
    ck_path = os.path.join(C.CACHE, "reward.pt")
    teacher, student = teacher_and_student(a.teacher)
    if a.anchor_teacher:
        teacher, _ = teacher_and_student(a.anchor_teacher)
    conds = Conditioning(student)
    judges = JudgeTrainer(a, log)
    judge = frozen(judges.judge)
    decoder = LatentDecoder()
    frozen(decoder.decoder)
    scale, shift = decoder.stats["scale"], decoder.stats["shift"]
    data = torch.load(os.path.join(C.CACHE, "latents.pt"))
    latents, captions = data["latents"], data["captions"]
    run = StudentTraining(student, ck_path, a.lr, a.ema, a.seed + 2, a.resume, a.checkpoint_s)
    rng, gen = run.rng, run.gen
    sig = sigmas(a.sampler_steps, a.shift)
    ctx_u, pooled_u = conds([""])
    specs: dict[str, dict] = {}
    weights = parse_category_weights(a.category_weights)
    scene_p = scene_weights(captions, weights) if weights else None
    C.log_line(log, f"tune: teacher {a.teacher}, steps {a.steps} batch {a.batch} sampled + {a.fm_rows} stage-2, lr {a.lr}, "
                    f"sampler {a.sampler_steps} steps guidance {a.guidance} shift {a.shift}, reward weight {a.reward_weight}, "
                    f"anchor {a.anchor_rows} trajectories of {a.anchor_teacher or a.teacher} at guidance {a.anchor_guidance} "
                    f"weight {a.anchor_weight}" + (f", categories weighted {weights}" if weights else ""))
    while run.step < a.steps:
        if a.refresh_every and run.step % a.refresh_every == 0 and run.step > 0:
            # The judge keeps up with the sampler: the student's newest pictures, labelled by the
            # detector, join its data, so what fools the judge stops paying (README, run 13).
            student.dit.eval()
            add_pictures(student, conds, decoder, training_captions(rng, captions, a.refresh_pictures, scene_p), gen, a, log)
            judges.train(a.refresh_judge_steps, 48, a.judge_lr * 0.25, load_pool())
            student.dit.train()
        run.schedule(a.steps, a.lr, 20)
        # Training captions as stage 2 draws them (never a held-out combination).
        loss, parts = torch.zeros(()), {}
        if a.reward_weight:
            caps = training_captions(rng, captions, a.batch, scene_p)
            for c in caps:
                if c not in specs:
                    specs[c] = caption_spec(c)
            ctx, pooled = conds(caps)
            x = sample_with_grad(student, torch.randn(a.batch, 16, 8, 8, generator=gen) * sig[0], sig, ctx, pooled,
                                 ctx_u.expand(a.batch, -1, -1), pooled_u.expand(a.batch, -1), a.guidance)
            picture = decoder.decoder(x / scale + shift).clamp(-1, 1)
            loss_r, parts = caption_loss(*judge(picture), [specs[c] for c in caps])
            loss = a.reward_weight * loss_r
            parts["reward"] = loss_r.item()
        if a.anchor_rows:
            loss_a = anchor_rows(teacher, student, conds, training_captions(rng, captions, a.anchor_rows), sig,
                                 ctx_u, pooled_u, gen, a)
            loss = loss + a.anchor_weight * loss_a
            parts["anchor"] = loss_a.item()
        if a.fm_rows:
            loss_fm = stage2_rows(student, conds, latents, captions, a.fm_rows, rng, gen, 0.1)
            loss = loss + a.fm_weight * loss_fm
            parts["stage2"] = loss_fm.item()
        run.update(loss)
        run.record(parts, a.steps, log, a.keep, "reward")
    C.log_line(log, f"tune done: {run.step} steps, wall {time.time() - run.started:.0f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["judge", "pictures", "tune", "agreement"])
    ap.add_argument("--scored", help="agreement: an evaluation folder holding img/ and ev/results.jsonl")
    ap.add_argument("--checkpoint", default=os.path.join(C.CACHE, "dit_init.pt"), help="pictures: whose sampler")
    ap.add_argument("--count", type=int, default=1024, help="pictures: how many")
    ap.add_argument("--pool", type=int, default=6000, help="the detector-labelled pictures kept (newest)")
    ap.add_argument("--judge-lr", type=float, default=2e-3)
    ap.add_argument("--refresh-every", type=int, default=50, help="tune: steps between rounds of new pictures for the judge (0: never)")
    ap.add_argument("--refresh-pictures", type=int, default=256)
    ap.add_argument("--refresh-judge-steps", type=int, default=100)
    ap.add_argument("--teacher", default=os.path.join(C.CACHE, "dit_init.pt"), help="tune: the weights to start from")
    ap.add_argument("--steps", type=int, default=None, help="judge: 1500; tune: 400")
    ap.add_argument("--batch", type=int, default=None, help="judge: 48 scenes; tune: 16 sampled pictures")
    ap.add_argument("--lr", type=float, default=1e-4, help="tune's learning rate")
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--fm-rows", type=int, default=16, help="tune: rows of stage 2's own loss per step")
    ap.add_argument("--fm-weight", type=float, default=2.0)
    ap.add_argument("--reward-weight", type=float, default=1.0, help="tune: the judge's loss (0: anchor and stage-2 rows only)")
    ap.add_argument("--anchor-rows", type=int, default=0,
                    help="tune: teacher trajectories per step whose states anchor the student's velocity to the teacher's guided one")
    ap.add_argument("--anchor-teacher", default=None, help="tune: whose guided velocity the anchor rows take (default: --teacher)")
    ap.add_argument("--anchor-guidance", type=float, default=5.0, help="tune: the teacher's guidance for the anchor rows")
    ap.add_argument("--anchor-weight", type=float, default=1.0)
    ap.add_argument("--category-weights", default="",
                    help="tune: e.g. position=2,color_attr=2: the reward rows' and the judge's new pictures' captions "
                         "drawn with these weights per category (the anchor rows keep stage 2's mix)")
    ap.add_argument("--sampler-steps", type=int, default=4)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--shift", type=float, default=3.0)
    ap.add_argument("--keep", default="", help="tune: steps whose EMA is also kept as reward_<step>.pt, comma-separated")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint-s", type=float, default=240.0)
    ap.add_argument("--resume", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    a.keep = {int(s) for s in a.keep.split(",") if s}
    if a.stage == "judge":
        a.steps, a.batch = a.steps or 1500, a.batch or 48
        train_judge(a)
    elif a.stage == "pictures":
        pictures(a)
    elif a.stage == "agreement":
        agreement(a)
    else:
        a.steps, a.batch = a.steps or 400, a.batch or 16
        tune(a)


if __name__ == "__main__":
    main()
