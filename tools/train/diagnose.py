"""Diagnostics of a stage-2 checkpoint, for the questions the validation score alone cannot answer.

  python3 tools/train/diagnose.py gap   [--checkpoint dit.pt] [--raw] [--count 2048]
  python3 tools/train/diagnose.py probe [--checkpoint dit.pt] [--raw]
  python3 tools/train/diagnose.py guidance [--checkpoint dit.pt] [--count 512]

gap: the denoiser's loss on cached training scenes against fresh ones (rendered and encoded now,
with the frozen encoder), with the same noise and σ for both, per σ bin. A gap says the latent
cache is memorised; no gap says more scenes would not help.

probe: whether the text encoders keep the colour of held-out colour–shape pairs apart. For the 32
captions "a photo of a <colour> <shape>" (28 trained, 4 held out), a ridge-regression probe fitted
on the trained ones reads the colour of the held-out ones from each feature (both pooled vectors,
CLIP-G's projected pooled vector, CLIP-L's output at the shape token); the nearest trained caption
by the pooled vector's cosine; and, where the checkpoint holds one, the auxiliary head's reading.

guidance: how much guidance a guidance-distilled model's conditional rows carry, per σ. On cached
scenes noised to σ, with d = v_c − v_u (conditional minus empty-prompt velocity) and f = ε − x0 − v_u,
a model that samples as CFG at w from its own empty-prompt rows has d = w·(E[ε − x0 | x_t, c] − v_u);
f's noise is uncorrelated with d, so w ≈ |d|² / ⟨d, f⟩ (1 for a plain flow model). Also each
branch's stage-2 loss.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from clip_tokens import EOS  # noqa: E402
from models import image_to_tensor  # noqa: E402
from train import AUX_SLOTS, Stage2, load_encoder, load_stage2, velocity_error  # noqa: E402
from world import COLOURS, HELD_OUT_COLOUR_SHAPES, SHAPES, caption_colors  # noqa: E402

SIGMA_BINS = [(0.0, 1.0), (0.0, 0.3), (0.3, 0.6), (0.6, 0.85), (0.85, 1.0001)]


@torch.no_grad()
def per_sample_loss(model: Stage2, ids: C.CaptionIds, x0: torch.Tensor, caps: list[str],
                    t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """train.py's loss, one value per sample, in batches of 128."""
    out = []
    for s in range(0, x0.shape[0], 128):
        e = slice(s, s + 128)
        context, pooled = model.cond(*ids(caps[e]), t5_rows=1)
        out.append(velocity_error(model, x0[e], t[e], eps[e], context, pooled))
    return torch.cat(out)


@torch.no_grad()
def fresh_latents(n: int, seed: int) -> tuple[torch.Tensor, list[str]]:
    """n new training scenes (the cache's distribution) as denoiser-space latents, with the caption
    each was drawn for."""
    encoder = load_encoder()
    stats = C.load_json(os.path.join(C.CACHE, "vae_stats.json"))
    rng = np.random.default_rng(seed)
    lat, caps = [], []
    for s in range(0, n, 256):
        imgs, batch_caps = C.training_batch(rng, min(256, n - s))
        caps += batch_caps
        m, _ = encoder(image_to_tensor(torch.from_numpy(imgs)))
        lat.append((m - stats["shift"]) * stats["scale"])
    return torch.cat(lat), caps


def gap(a) -> None:
    model, ck = load_stage2(a.checkpoint, a.raw)
    data = torch.load(os.path.join(C.CACHE, "latents.pt"))
    cached = data["latents"][:a.count].float()
    cached_caps = [c[0] for c in data["captions"][:a.count]]
    fresh, fresh_caps = fresh_latents(a.count, a.seed + 1)
    gen = torch.Generator().manual_seed(a.seed)
    t = torch.sigmoid(torch.randn(a.count, generator=gen))  # the logit-normal of shift 1, as trained
    eps = torch.randn(cached.shape, generator=gen)
    ids = C.CaptionIds()
    rows = {"cached": per_sample_loss(model, ids, cached, cached_caps, t, eps),
            "fresh": per_sample_loss(model, ids, fresh, fresh_caps, t, eps)}
    print(f"checkpoint {a.checkpoint} (step {ck.get('step')}, {'raw' if a.raw else 'EMA'}), {a.count} scenes each")
    print("σ bin        " + "  ".join(f"[{lo:.2f},{min(hi, 1):.2f}]" for lo, hi in SIGMA_BINS))
    for name, loss in rows.items():
        cells = []
        for lo, hi in SIGMA_BINS:
            m = (t >= lo) & (t < hi)
            cells.append(f"{loss[m].mean().item():11.4f}")
        print(f"{name:12s} " + "  ".join(cells))


@torch.no_grad()
def probe(a) -> None:
    model, ck = load_stage2(a.checkpoint, a.raw)
    ids = C.CaptionIds()
    pairs = [(c, s) for s in SHAPES for c in COLOURS]
    caps = [caption_colors(c, s) for c, s in pairs]
    held = np.array([(c, s) in HELD_OUT_COLOUR_SHAPES for c, s in pairs])
    colour = np.array([COLOURS.index(c) for c, _ in pairs])
    l_ids, g_ids = ids(caps)
    ls, lp = model.clip_l(l_ids)
    _, gp = model.clip_g(g_ids)
    # CLIP-L's output at the shape token: the last one before the first end token.
    shape_at = (l_ids == EOS).int().argmax(dim=1) - 1
    features = {
        "pooled L ‖ G": torch.cat([lp, gp], dim=1),
        "CLIP-G projected pooled": gp,
        "CLIP-L at the shape token": ls[torch.arange(len(caps)), shape_at],
    }
    print(f"checkpoint {a.checkpoint} (step {ck.get('step')}, {'raw' if a.raw else 'EMA'}); "
          f"colour of {int(held.sum())} held-out pairs read by a ridge probe fitted on {int((~held).sum())} trained ones")
    for name, f in features.items():
        x = f.double().numpy()
        x = (x - x[~held].mean(0)) / (x[~held].std(0) + 1e-9)
        x = np.concatenate([x, np.ones((len(x), 1))], axis=1)
        y = np.eye(len(COLOURS))[colour]
        w = np.linalg.solve(x[~held].T @ x[~held] + a.ridge * np.eye(x.shape[1]), x[~held].T @ y[~held])
        pred = (x @ w).argmax(1)
        print(f"  {name:27s} trained {int((pred == colour)[~held].sum())}/{int((~held).sum())}, "
              f"held-out {int((pred == colour)[held].sum())}/{int(held.sum())}: "
              + ", ".join(f"{pairs[i][0]} {pairs[i][1]} → {COLOURS[pred[i]]}" for i in np.flatnonzero(held)))
    pooled = torch.nn.functional.normalize(features["pooled L ‖ G"], dim=1)
    cos = pooled @ pooled.T
    for i in np.flatnonzero(held):
        j = max(np.flatnonzero(~held), key=lambda k: cos[i, k].item())
        print(f"  nearest trained pooled vector of {caps[i]!r}: {caps[j]!r} (cosine {cos[i, j].item():.3f})")
    if ck.get("aux") is not None:
        head = torch.nn.Linear(C.ADM_DIM, sum(AUX_SLOTS))
        head.load_state_dict(ck["aux"])
        logits = head(torch.cat([lp, gp], dim=1))
        starts = np.cumsum([0] + AUX_SLOTS)
        read = []
        for i, (_, s) in enumerate(pairs):
            slot = 4 + SHAPES.index(s)  # the colour slot of this shape (0: none)
            read.append(int(logits[i, starts[slot]:starts[slot + 1]].argmax()) - 1)
        read = np.array(read)
        print(f"  auxiliary head (trained with the encoders): trained {int((read == colour)[~held].sum())}/{int((~held).sum())}, "
              f"held-out {int((read == colour)[held].sum())}/{int(held.sum())}")


@torch.no_grad()
def guidance(a) -> None:
    model, ck = load_stage2(a.checkpoint, a.raw)
    data = torch.load(os.path.join(C.CACHE, "latents.pt"))
    rng, gen = np.random.default_rng(a.seed), torch.Generator().manual_seed(a.seed)
    pick = rng.integers(data["latents"].shape[0], size=a.count)
    x0 = data["latents"][torch.from_numpy(pick)].float()
    caps = [C.pick_caption(rng, data["captions"][i]) for i in pick]
    eps = torch.randn(x0.shape, generator=gen)
    ids = C.CaptionIds()
    cc, pc = model.cond(*ids(caps), t5_rows=1)
    cu, pu = model.cond(*ids([""] * a.count), t5_rows=1)
    print(f"checkpoint {a.checkpoint} (step {ck.get('step')}, {'raw' if a.raw else 'EMA'}), {a.count} scenes")
    print("σ        w     loss cond  loss empty")
    for s in [0.923, 0.819, 0.668, 0.55, 0.432, 0.2, 0.05]:
        xt, t = (1 - s) * x0 + s * eps, torch.full((a.count,), 1000 * s)
        vc = model.dit(xt, t, cc, pc, t5_rows=1, t5_weight=77.0)
        vu = model.dit(xt, t, cu, pu, t5_rows=1, t5_weight=77.0)
        d, f = vc - vu, eps - x0 - vu
        print(f"{s:.3f}  {((d * d).sum() / (d * f).sum()).item():5.2f}  {((vc - eps + x0) ** 2).mean().item():9.4f}"
              f"  {((vu - eps + x0) ** 2).mean().item():10.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["gap", "probe", "guidance"])
    ap.add_argument("--checkpoint", default=os.path.join(C.CACHE, "dit.pt"))
    ap.add_argument("--raw", action="store_true", help="the trained weights instead of their EMA")
    ap.add_argument("--count", type=int, default=2048, help="gap: scenes of each kind; guidance: scenes")
    ap.add_argument("--ridge", type=float, default=1.0, help="probe: ridge penalty on the standardised features")
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    {"gap": gap, "probe": probe, "guidance": guidance}[a.what](a)


if __name__ == "__main__":
    main()
