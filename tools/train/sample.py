"""Pictures from a training checkpoint in PyTorch, for watching training and choosing defaults.

  python3 tools/train/sample.py --prompts <prompts.json> --out-dir <dir> [--checkpoint dit.pt]
         [--steps 10] [--guidance-scale 4] [--shift 1] [--images-per-prompt 4]
  python3 tools/train/sample.py --grid out.png [--checkpoint …]      a grid of the six categories
  python3 tools/train/sample.py … --latents-out L.pt; … --latents-in L.pt --vae other.pt
                                                   the same final latents through another decoder

prompts.json is the evaluation's list (`npm run eval -- --out-dir <d> …` writes <d>/prompts.json:
[{"id", "prompt", …}]); each picture is written as <id>.png, which `npm run eval -- --images <dir>`
scores with the world's detector. The sampler is the engine's (MODEL_SPEC §4: shifted schedule,
Euler, CFG with the empty prompt), in float32; its noise is PyTorch's, not the engine's Philox.
`--eta` (ancestral steps) and `--guidance-max-sigma` (a guidance interval) are experiments the
engine does not run (tools/train/README.md, run 6: neither beat Euler).
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
from models import tensor_to_image  # noqa: E402
from pngio import grid, write_png  # noqa: E402
from train import Stage2, load_stage2, make_vae  # noqa: E402
from vectors import sigmas  # noqa: E402

GRID_PROMPTS = [
    "a photo of a circle", "a photo of a triangle",
    "a photo of a square and a cross", "a photo of a circle and a triangle",
    "a photo of two squares", "a photo of four circles",
    "a photo of a red circle", "a photo of a purple triangle",
    "a photo of a cross left of a circle", "a photo of a square above a triangle",
    "a photo of a blue square and an orange circle", "a photo of a white circle and a green cross",
]


def guided_velocity(model: Stage2, x: torch.Tensor, sigma: torch.Tensor | float, ctx: torch.Tensor, pooled: torch.Tensor,
                    ctx_u: torch.Tensor, pooled_u: torch.Tensor, guidance: float) -> torch.Tensor:
    """CFG as the engine runs it: the conditional and the empty-prompt rows in one batch, then
    vu + guidance·(vc − vu); at guidance 1 the conditional rows alone, as the engine skips the others.
    `sigma` is one value or one per row of `x`."""
    n = x.shape[0]
    t = torch.as_tensor(1000 * sigma, dtype=torch.float32).expand(n)
    if guidance == 1:
        return model.dit(x, t, ctx, pooled, t5_rows=1, t5_weight=77.0)
    v = model.dit(torch.cat([x, x]), torch.cat([t, t]), torch.cat([ctx, ctx_u]), torch.cat([pooled, pooled_u]),
                  t5_rows=1, t5_weight=77.0)
    vc, vu = v[:n], v[n:]
    return vu + (vc - vu) * guidance


class LatentDecoder:
    """The cache's VAE decoder: denoiser-space latents (scaled and shifted) to uint8 RGB pictures."""

    def __init__(self, vae_path: str | None = None):
        vae = make_vae()
        vae.load_state_dict(torch.load(vae_path or os.path.join(C.CACHE, "vae.pt"))["ema"])
        self.decoder = vae.decoder.eval()
        self.stats = C.load_json(os.path.join(C.CACHE, "vae_stats.json"))

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> np.ndarray:
        return tensor_to_image(self.decoder(x / self.stats["scale"] + self.stats["shift"])).numpy()


class Sampler:
    def __init__(self, checkpoint: str, raw: bool = False, vae_path: str | None = None):
        self.model, ck = load_stage2(checkpoint, raw)
        self.step = ck.get("step")
        self.decode = LatentDecoder(vae_path)
        self.ids = C.CaptionIds()

    @torch.no_grad()
    def __call__(self, prompts: list[str], noise: torch.Tensor, steps: int, guidance: float, shift: float,
                 eta: float = 0.0, gen: torch.Generator | None = None, guidance_max_sigma: float = 1.0) -> torch.Tensor:
        """Final latents from `noise` (`decode` makes the pictures)."""
        sig = sigmas(steps, shift)
        return self.denoise(prompts, sig[0] * noise, sig, 0, guidance, eta, gen, guidance_max_sigma)

    @torch.no_grad()
    def denoise(self, prompts: list[str], x: torch.Tensor, sig, start: int, guidance: float,
                eta: float = 0.0, gen: torch.Generator | None = None, guidance_max_sigma: float = 1.0) -> torch.Tensor:
        """Euler steps `start`… of the schedule `sig` from latent `x` (at σ = sig[start]); the final latents.
        `eta` > 0 makes them ancestral steps (noise from `gen`); guidance applies at σ ≤ `guidance_max_sigma`."""
        n = len(prompts)
        l, g = self.ids(prompts + [""])
        ctx, pooled = self.model.cond(l, g, t5_rows=1)
        ctx_u, pooled_u = ctx[n:].expand(n, -1, -1), pooled[n:].expand(n, -1)
        for k in range(start, len(sig) - 1):
            # A guidance interval: above guidance_max_sigma, the conditional velocity alone.
            vg = guided_velocity(self.model, x, sig[k], ctx[:n], pooled[:n], ctx_u, pooled_u,
                                 guidance if sig[k] <= guidance_max_sigma else 1.0)
            if eta == 0:
                x = x + vg * (sig[k + 1] - sig[k])
            else:
                # Ancestral step: the guided x0 and ε estimates, with a share of ε replaced by fresh
                # noise (eta = 0 is the Euler step above; eta = 1 renoises fully).
                x0, eps = x - sig[k] * vg, x + (1 - sig[k]) * vg
                z = torch.randn(x.shape, generator=gen)
                x = (1 - sig[k + 1]) * x0 + sig[k + 1] * ((1 - eta * eta) ** 0.5 * eps + eta * z)
        return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=os.path.join(C.CACHE, "dit.pt"))
    ap.add_argument("--prompts")
    ap.add_argument("--out-dir")
    ap.add_argument("--grid")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--guidance-scale", type=float, default=4.0)
    ap.add_argument("--shift", type=float, default=C.SHIFT)
    ap.add_argument("--images-per-prompt", type=int, default=4)
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--guidance-max-sigma", type=float, default=1.0, help="guidance only at σ at most this")
    ap.add_argument("--eta", type=float, default=0.0, help="share of fresh noise per step (0: Euler)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--raw", action="store_true", help="the trained weights instead of their EMA")
    ap.add_argument("--latents-out", default=None, help="also save the final latents (torch file), for --latents-in")
    ap.add_argument("--latents-in", default=None, help="decode these saved final latents instead of sampling (e.g. with another --vae)")
    ap.add_argument("--vae", default=None, help="the VAE checkpoint whose decoder makes the pictures (default: the cache's vae.pt)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    s = Sampler(a.checkpoint, a.raw, a.vae)
    gen = torch.Generator().manual_seed(a.seed)
    if a.grid:
        prompts = [p for p in GRID_PROMPTS for _ in range(a.images_per_prompt)]
        imgs = s.decode(s(prompts, torch.randn(len(prompts), 16, 8, 8, generator=gen), a.steps, a.guidance_scale, a.shift, a.eta, gen, a.guidance_max_sigma))
        write_png(a.grid, grid(imgs, 2 * a.images_per_prompt, 2))
        print(f"step {s.step}: wrote {a.grid}")
        return
    with open(a.prompts) as f:
        items = json.load(f)
    os.makedirs(a.out_dir, exist_ok=True)
    if a.latents_in:
        # Another decoder on the same final latents (run 20): no sampling, so decoders compare on one draw.
        saved = torch.load(a.latents_in)
        if saved["ids"] != [it["id"] for it in items]:
            raise SystemExit(f"--latents-in {a.latents_in} holds other pictures than {a.prompts}")
        for k in range(0, len(items), 64):
            for it, im in zip(items[k:k + 64], s.decode(saved["latents"][k:k + 64].float())):
                write_png(os.path.join(a.out_dir, f"{it['id']}.png"), im)
        print(f"decoded {len(items)} latents of {a.latents_in} to {a.out_dir}")
        return
    batch, finals = [], []
    for it in items:
        batch.append(it)
        if len(batch) == 16 or it is items[-1]:
            x = s([b["prompt"] for b in batch], torch.randn(len(batch), 16, 8, 8, generator=gen), a.steps, a.guidance_scale, a.shift, a.eta, gen, a.guidance_max_sigma)
            finals.append(x)
            for b, im in zip(batch, s.decode(x)):
                write_png(os.path.join(a.out_dir, f"{b['id']}.png"), im)
            batch = []
    if a.latents_out:
        torch.save({"ids": [it["id"] for it in items], "latents": torch.cat(finals)}, a.latents_out)
    print(f"step {s.step}: wrote {len(items)} pictures to {a.out_dir}")


if __name__ == "__main__":
    main()
