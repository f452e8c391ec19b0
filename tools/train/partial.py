"""Where along the schedule the denoiser fails: ground-truth scenes, encoded, noised to a step of
the sampler's schedule and denoised from there with their own captions (PyTorch).

  npm run eval -- --validation --gt --out-dir <gt> --save-images     the scenes and prompts.json
  python3 tools/train/partial.py --gt <gt> --out-dir <dir> --from-sigma 0.7 [--checkpoint dit.pt]
  npm run eval -- --validation --images <dir>                         the detector's score

From σ = 1 this is ordinary sampling (the scene is gone); as σ falls, more of the scene's layout is
given and only its detail is left to the denoiser. The score against σ shows which part of the
schedule (layout or shape detail) loses the pictures.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from models import image_to_tensor  # noqa: E402
from pngio import read_png, write_png  # noqa: E402
from sample import Sampler  # noqa: E402
from train import load_encoder  # noqa: E402
from vectors import sigmas  # noqa: E402


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=os.path.join(C.CACHE, "dit.pt"))
    ap.add_argument("--raw", action="store_true", help="the trained weights instead of their EMA")
    ap.add_argument("--gt", required=True, help="folder with prompts.json and the ground-truth <id>.png")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--from-sigma", type=float, required=True, help="start at the schedule's step nearest this σ")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--guidance-scale", type=float, default=5.0)
    ap.add_argument("--shift", type=float, default=C.SHIFT)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    s = Sampler(a.checkpoint, a.raw)
    encoder = load_encoder()
    sig = sigmas(a.steps, a.shift)
    k0 = min(range(a.steps), key=lambda k: abs(sig[k] - a.from_sigma))
    with open(os.path.join(a.gt, "prompts.json")) as f:
        items = json.load(f)
    os.makedirs(a.out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(a.seed)
    for i in range(0, len(items), 16):
        batch = items[i:i + 16]
        u8 = torch.from_numpy(np.stack([read_png(os.path.join(a.gt, f"{b['id']}.png")) for b in batch]))
        mean, _ = encoder(image_to_tensor(u8))
        x0 = (mean - s.decode.stats["shift"]) * s.decode.stats["scale"]
        x = (1 - sig[k0]) * x0 + sig[k0] * torch.randn(x0.shape, generator=gen)
        imgs = s.decode(s.denoise([b["prompt"] for b in batch], x, sig, k0, a.guidance_scale))
        for b, im in zip(batch, imgs):
            write_png(os.path.join(a.out_dir, f"{b['id']}.png"), im)
    print(f"step {s.step}: {len(items)} pictures from σ {sig[k0]:.3f} (step {k0} of {a.steps}) to {a.out_dir}")


if __name__ == "__main__":
    main()
