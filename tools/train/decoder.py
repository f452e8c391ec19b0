"""The VAE decoder tuned on the denoiser's own latents (run 17).

  python3 tools/train/decoder.py pairs --checkpoint ~/.cache/mmdit-train/dit_init.pt --count 6144
  python3 tools/train/decoder.py tune --steps 1500          # writes vae_dec.pt (vae.pt's format)
  python3 tools/train/decoder.py tune --pairs ~/.cache/mmdit-train/snap_pairs.pt --out …   # run 20 (snap.py)

The denoiser's last latents draw shapes as lumpy blobs that the decoder, trained on the encoder's
latents of clean renders only, decodes as lumpy blobs. Here the decoder also learns from pairs
(the sampler's final latent, the scene it started from): fresh training scenes are encoded, noised
to a mid-σ step of the sampler's schedule (where partial.py shows the layout is kept) and denoised
to the end with their captions, exactly as the shipped sampler runs. Trained on those pairs with
the round-trip loss, the decoder maps a latent to the mean of the scenes it came from, which the
detector's nearest-colour pixels read as the scene's shapes. Half of each batch stays on clean
round trips, so the round-trip score holds. The encoder, hence every latent, is unchanged.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from models import image_to_tensor  # noqa: E402
from reward import scene_weights  # noqa: E402
from sample import guided_velocity  # noqa: E402
from train import load_encoder, load_stage2, lr_at, make_vae  # noqa: E402
from vectors import sigmas  # noqa: E402

PAIRS = os.path.join(C.CACHE, "decoder_pairs.pt")


@torch.no_grad()
def make_pairs(a) -> None:
    model, _ = load_stage2(a.checkpoint)
    ids = C.CaptionIds()
    encoder = load_encoder()
    stats = C.load_json(os.path.join(C.CACHE, "vae_stats.json"))
    sig = sigmas(a.steps, a.shift)
    starts = [int(k) for k in a.start_steps.split(",")]
    rng = np.random.default_rng(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    lat, imgs_all, ks = [], [], []
    t0 = time.time()
    for i in range(0, a.count, 32):
        n = min(32, a.count - i)
        imgs, caps = C.training_batch(rng, n)
        mean, _ = encoder(image_to_tensor(torch.from_numpy(imgs)))
        x0 = (mean - stats["shift"]) * stats["scale"]
        k0 = starts[(i // 32) % len(starts)]
        x = (1 - sig[k0]) * x0 + sig[k0] * torch.randn(x0.shape, generator=gen)
        l, g = ids(caps)
        ctx, pooled = model.cond(l, g, t5_rows=1)
        for k in range(k0, len(sig) - 1):
            x = x + guided_velocity(model, x, sig[k], ctx, pooled, ctx, pooled, 1.0) * (sig[k + 1] - sig[k])
        lat.append(x.to(torch.float16))
        imgs_all.append(torch.from_numpy(imgs))
        ks += [k0] * n
    C.save_atomic({"latents": torch.cat(lat), "images": torch.cat(imgs_all), "start_steps": torch.tensor(ks),
                   "checkpoint": a.checkpoint, "steps": a.steps, "shift": a.shift}, PAIRS)
    print(f"{a.count} pairs from steps {starts} of {a.steps} (σ {[round(sig[k], 3) for k in starts]}) in {time.time() - t0:.0f}s → {PAIRS}")


def weighted_rec(y: torch.Tensor, u8: torch.Tensor) -> torch.Tensor:
    """train.vae_loss's reconstruction term: foreground and edges weighed 5×, byte-centred target."""
    x = image_to_tensor(u8)
    target = x + 1.0 / 255.0
    bg = torch.median(torch.cat([x[:, :, 0], x[:, :, -1]], dim=2), dim=2).values[:, :, None, None]
    fg = ((x - bg).abs().amax(1, keepdim=True) > 4.0 / 255.0).float()
    fg = torch.nn.functional.max_pool2d(fg, 3, stride=1, padding=1)
    return ((1.0 + 4.0 * fg) * (y - target) ** 2).mean()


def load_pairs(paths: str) -> dict:
    """Pair files (comma-separated) as one: tensors and lists concatenated, the rest from the first
    file; only what every file holds."""
    parts = [torch.load(path) for path in paths.split(",")]
    out = {}
    for key in set.intersection(*(set(p) for p in parts)):
        values = [p[key] for p in parts]
        out[key] = (torch.cat(values) if isinstance(values[0], torch.Tensor)
                    else sum(values, []) if isinstance(values[0], list) else values[0])
    return out


def tune(a) -> None:
    torch.manual_seed(a.seed)
    vae = make_vae()
    vae.load_state_dict(torch.load(a.init)["ema"])
    for p in vae.encoder.parameters():
        p.requires_grad_(False)
    vae.encoder.eval()
    stats = C.load_json(os.path.join(C.CACHE, "vae_stats.json"))
    d = load_pairs(a.pairs)
    lat, gt = d["latents"].float(), d["images"]
    pair_p = None
    if a.balance:
        # snap.py's pairs keep far more single objects than counts (README, run 20): draw the pair
        # rows with each category equally likely.
        if "captions" not in d:
            raise SystemExit("--balance needs pairs with captions (snap.py's)")
        if a.use_steps:
            raise SystemExit("--balance and --use-steps do not go together: snap.py's pairs all start from noise")
        pair_p = scene_weights([[c] for c in d["captions"]], {})
    if a.use_steps:
        keep = torch.isin(d["start_steps"], torch.tensor([int(k) for k in a.use_steps.split(",")]))
        lat, gt = lat[keep], gt[keep]
    opt = torch.optim.AdamW(vae.decoder.parameters(), lr=a.lr, betas=(0.9, 0.99), weight_decay=0.0)
    ema = C.Ema(vae, a.ema)
    rng = np.random.default_rng(a.seed + 1)
    log = os.path.join(C.CACHE, "decoder.log")
    C.log_line(log, f"decoder tuning: {lat.shape[0]} pairs from {d['checkpoint']}, {a.pair_rows} pair + {a.render_rows} render rows, "
                    f"lr {a.lr}, {a.steps} steps")
    t0, acc = time.time(), [0.0, 0.0, 0]
    for step in range(a.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a.steps, a.lr, 50)
        j = torch.from_numpy(rng.integers(0, lat.shape[0], a.pair_rows) if pair_p is None
                             else rng.choice(lat.shape[0], size=a.pair_rows, p=pair_p))
        y_pair = vae.decoder(lat[j] / stats["scale"] + stats["shift"])
        rec_pair = weighted_rec(y_pair, gt[j])
        imgs, _ = C.training_batch(rng, a.render_rows)
        u8 = torch.from_numpy(imgs)
        with torch.no_grad():
            mean, logvar = vae.encoder(image_to_tensor(u8))
            z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        rec_render = weighted_rec(vae.decoder(z), u8)
        loss = rec_pair + rec_render
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.decoder.parameters(), 1.0)
        opt.step()
        ema.update(vae)
        acc[0] += rec_pair.item()
        acc[1] += rec_render.item()
        acc[2] += 1
        if (step + 1) % 50 == 0 or step + 1 == a.steps:
            C.log_line(log, f"step {step + 1} pairs {acc[0] / acc[2]:.5f} renders {acc[1] / acc[2]:.5f} "
                            f"lr {opt.param_groups[0]['lr']:.2e} elapsed {time.time() - t0:.0f}s")
            acc = [0.0, 0.0, 0]
        if (step + 1) in a.keep or step + 1 == a.steps:
            out = a.out if step + 1 == a.steps else a.out.replace(".pt", f"_{step + 1:05d}.pt")
            C.save_atomic({"model": vae.state_dict(), "ema": ema.shadow, "step": step + 1}, out)
    C.log_line(log, f"decoder tuning done: {a.steps} steps, {time.time() - t0:.0f}s → {a.out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["pairs", "tune"])
    ap.add_argument("--checkpoint", default=os.path.join(C.CACHE, "dit_init.pt"), help="pairs: the denoiser whose latents the decoder learns")
    ap.add_argument("--count", type=int, default=6144)
    ap.add_argument("--steps", type=int, default=None, help="pairs: the sampler's steps (6); tune: training steps (1500)")
    ap.add_argument("--shift", type=float, default=3.0)
    ap.add_argument("--start-steps", default="2,3,3,4", help="pairs: schedule steps the scenes are noised to, in turn")
    ap.add_argument("--pairs", default=PAIRS, help="tune: the pairs to learn, comma-separated files (snap.py writes snap_pairs.pt, run 20)")
    ap.add_argument("--balance", action="store_true", help="tune: pair rows drawn with each caption category equally likely")
    ap.add_argument("--init", default=os.path.join(C.CACHE, "vae.pt"), help="tune: the VAE to start from (its EMA)")
    ap.add_argument("--use-steps", default="", help="tune: only the pairs that started at these schedule steps")
    ap.add_argument("--pair-rows", type=int, default=8)
    ap.add_argument("--render-rows", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--keep", type=lambda s: {int(x) for x in s.split(",") if x}, default=set())
    ap.add_argument("--out", default=os.path.join(C.CACHE, "vae_dec.pt"))
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.cmd == "pairs":
        a.steps = a.steps or 6
        make_pairs(a)
    else:
        a.steps = a.steps or 1500
        tune(a)


if __name__ == "__main__":
    main()
