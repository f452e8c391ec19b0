"""Shared pieces of training, export and vectors: paths, sizes, checkpoints, data batches."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import torch

from clip_tokens import ClipBpe
from world import CATEGORIES, all_captions, render, sample_training_scene

CACHE = os.path.expanduser(os.environ.get("MMDIT_TRAIN_CACHE", "~/.cache/mmdit-train"))

# The model's sizes (README.md explains the choice: eval speed on SwiftShader bounds them).
VAE_CHANNELS = (32, 32, 64, 64)
VAE_ENC_BLOCKS = 1
VAE_DEC_BLOCKS = 1
# CLIP-L narrower than CLIP-G, as in SD3; the context is [L ‖ G ‖ zeros] up to the DiT's width.
CLIP_L_WIDTH = 16
CLIP_G_WIDTH = 32
CLIP_HEADS = 1
CLIP_LAYERS = 3
CLIP_MLP_RATIO = 4
DIT_HIDDEN = 64
DIT_DEPTH = 7
DIT_HEAD_DIM = 64
# Blocks with MMDiT-X's second, image-only self-attention (SD3.5-Medium's dual attention). The
# shipped model has none; run 4 (README) tried (0, 1, 2): about 10 % more per step, no better score.
DIT_DUAL_LAYERS: tuple[int, ...] = ()
DIT_MLP_RATIO = 4.0
DIT_POS_MAX = 8
# Patch 1: each of the 8×8 latent cells is a token (patch 2 left 16 tokens for up to four objects).
DIT_PATCH = 1
CONTEXT_DIM = 64
ADM_DIM = CLIP_L_WIDTH + CLIP_G_WIDTH
# Resolution shift of the schedule for 8×8 latents (SD3 uses 3.0 at 128×128 latents).
SHIFT = 1.0


def dit_depth_of(state: dict) -> int:
    """The MM-DiT's depth in a Stage2 state dict (its joint blocks are `dit.joint_blocks.<i>.…`)."""
    prefix = "dit.joint_blocks."
    return 1 + max((int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)), default=-1)


def log_line(path: str, text: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    line = f"{stamp} {text}"
    print(line, flush=True)
    with open(path, "a") as f:
        f.write(line + "\n")


def save_atomic(obj, path: str) -> None:
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def used_token_ids() -> list[int]:
    """Every id the world's captions produce under SD3's rules (both pad conventions)."""
    tok = ClipBpe()
    ids = {0, 49406, 49407}
    for c in all_captions():
        l, g = tok.sd3_ids(c)
        ids.update(l)
        ids.update(g)
    return sorted(ids)


class CaptionIds:
    """Caption → (CLIP-L ids, CLIP-G ids) tensors, cached."""

    def __init__(self):
        self.tok = ClipBpe()
        self.cache: dict[str, tuple[list[int], list[int]]] = {}

    def __call__(self, caps: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ls, gs = [], []
        for c in caps:
            if c not in self.cache:
                self.cache[c] = self.tok.sd3_ids(c)
            l, g = self.cache[c]
            ls.append(l)
            gs.append(g)
        return torch.tensor(ls, dtype=torch.long), torch.tensor(gs, dtype=torch.long)


def training_batch(rng: np.random.Generator, n: int, counting_share: float = 0.0) -> tuple[np.ndarray, list[str]]:
    """n rendered training scenes (uint8 [n,64,64,3]) and their captions; categories uniform, or
    with `counting_share` of the scenes drawn from counting (the most and smallest objects)."""
    imgs = np.empty((n, 64, 64, 3), dtype=np.uint8)
    caps = []
    for i in range(n):
        cat = "counting" if counting_share > 0 and rng.random() < counting_share else CATEGORIES[rng.integers(len(CATEGORIES))]
        scene, cap = sample_training_scene(rng, cat)
        imgs[i] = render(scene)
        caps.append(cap)
    return imgs, caps


def pick_caption(rng: np.random.Generator, opts: list[str]) -> str:
    """Stage 2's rule for a scene's caption: half the time the one the scene was drawn for (opts[0]),
    else any other caption it supports."""
    return opts[0] if (len(opts) == 1 or rng.random() < 0.5) else opts[1 + int(rng.integers(len(opts) - 1))]


class Ema:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, decay: float | None = None) -> None:
        d = self.decay if decay is None else decay
        for k, v in model.state_dict().items():
            if torch.equal(self.shadow[k], v):
                # Frozen weights (a student's text encoders) stay exact: d·v + (1 − d)·v is not v in f32.
                continue
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)


def write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


def load_json(path: str):
    with open(path) as f:
        return json.load(f)
