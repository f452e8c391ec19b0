"""Trains the bundled model on the synthetic world, on the CPU (README.md in this folder).

  python3 tools/train/train.py vae [--steps N] [--resume]     stage 1: the VAE, then its scale/shift
  python3 tools/train/train.py latents [--count N] [--resume] the VAE latents of N training scenes (stage 2's data)
  python3 tools/train/train.py dit [--steps N] [--resume]     stage 2: CLIP-L, CLIP-G and the MM-DiT jointly
  python3 tools/train/train.py restore [--source DIR]        a fresh cache from the bundled model (warm start)

Checkpoints, logs and samples go to ~/.cache/mmdit-train/ (MMDIT_TRAIN_CACHE overrides it), never
into the repository. Every run is seeded; --resume continues from the stage's last checkpoint
(the data stream's generator state included).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from models import MMDiT, VAE, ClipText, conditioning, count, image_to_tensor  # noqa: E402


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def make_vae() -> VAE:
    return VAE(C.VAE_CHANNELS, C.VAE_ENC_BLOCKS, C.VAE_DEC_BLOCKS)


# ----------------------------------------------------------------------------------------------
# Stage 1: VAE


def vae_loss(vae: VAE, u8: torch.Tensor, kl_weight: float):
    x = image_to_tensor(u8)
    mean, logvar = vae.encoder(x)
    z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    y = vae.decoder(z)
    # The reference's uint8 conversion truncates: aim at the middle of each byte's interval.
    target = x + 1.0 / 255.0
    # Foreground and edges are a small part of each image and all that the detector reads: weigh them up.
    bg = torch.median(torch.cat([x[:, :, 0], x[:, :, -1]], dim=2), dim=2).values[:, :, None, None]
    fg = ((x - bg).abs().amax(1, keepdim=True) > 4.0 / 255.0).float()
    fg = F.max_pool2d(fg, 3, stride=1, padding=1)
    w = 1.0 + 4.0 * fg
    rec = (w * (y - target) ** 2).mean()
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
    return rec + kl_weight * kl, rec, kl


def train_vae(a) -> None:
    os.makedirs(C.CACHE, exist_ok=True)
    ck_path = os.path.join(C.CACHE, "vae.pt")
    log = os.path.join(C.CACHE, "vae.log")
    torch.manual_seed(a.seed)
    vae = make_vae()
    opt = torch.optim.AdamW(vae.parameters(), lr=a.lr, betas=(0.9, 0.99), weight_decay=0.0)
    ema = C.Ema(vae, 0.999)
    rng = np.random.default_rng(a.seed)
    step, elapsed = 0, 0.0
    if a.resume and os.path.exists(ck_path):
        ck = torch.load(ck_path)
        vae.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        ema.shadow = ck["ema"]
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        step, elapsed = ck["step"], ck["elapsed"]
        C.log_line(log, f"resumed at step {step}")
    C.log_line(log, f"vae: channels {C.VAE_CHANNELS}, enc/dec blocks {C.VAE_ENC_BLOCKS}/{C.VAE_DEC_BLOCKS}, "
                    f"params encoder {count(vae.encoder)} decoder {count(vae.decoder)}; steps {a.steps} "
                    f"(32x32 crops, batch {a.batch}, until step {a.crop_until}; then 64x64, batch {a.full_batch}), threads {a.threads}")
    t_last_ck = time.time()
    t0 = time.time() - elapsed
    acc = [0.0, 0.0, 0]
    frozen = False
    while step < a.steps:
        if a.freeze_encoder_at is not None and step >= a.freeze_encoder_at and not frozen:
            # From here on the encoder is fixed (its EMA weights), so stage 2's latents can be made
            # from it while the decoder goes on training at full size.
            vae.encoder.load_state_dict({k[len("encoder."):]: v for k, v in ema.shadow.items() if k.startswith("encoder.")})
            for p in vae.encoder.parameters():
                p.requires_grad_(False)
            frozen = True
            C.log_line(log, f"encoder frozen at step {step} (its EMA weights)")
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a.steps, a.lr, 100)
        full = step >= a.crop_until
        imgs, _ = C.training_batch(rng, a.full_batch if full else a.batch, a.counting_share if full else 0.0)
        if not full:
            # Most steps train on 32×32 crops at offsets aligned to the latent grid (4× cheaper; every
            # layer is a convolution except the mid attention and GroupNorm's statistics, which the
            # final full-size steps adapt).
            oy, ox = rng.integers(0, 5, size=2) * 8
            imgs = np.ascontiguousarray(imgs[:, oy:oy + 32, ox:ox + 32])
        loss, rec, kl = vae_loss(vae, torch.from_numpy(imgs), a.kl)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        ema.update(vae, min(0.999, (1 + step) / (10 + step)))
        if frozen:
            ema.shadow.update({"encoder." + k: v.detach().clone() for k, v in vae.encoder.state_dict().items()})
        step += 1
        acc[0] += rec.item()
        acc[1] += kl.item()
        acc[2] += 1
        if step % 25 == 0 or step == a.steps:
            el = time.time() - t0
            C.log_line(log, f"step {step} rec {acc[0] / acc[2]:.6f} kl {acc[1] / acc[2]:.3f} "
                            f"lr {opt.param_groups[0]['lr']:.2e} elapsed {el:.0f}s steps/min {60 * step / max(el, 1e-9):.1f}")
            acc = [0.0, 0.0, 0]
        if time.time() - t_last_ck > a.checkpoint_s or step == a.steps:
            C.save_atomic({"model": vae.state_dict(), "opt": opt.state_dict(), "ema": ema.shadow, "rng": rng.bit_generator.state,
                           "torch_rng": torch.get_rng_state(), "step": step, "elapsed": time.time() - t0}, ck_path)
            t_last_ck = time.time()
    C.log_line(log, f"vae training done: {step} steps, wall {time.time() - t0:.0f}s")
    fit_latent_stats(a, ema.shadow, log)


@torch.no_grad()
def latent_scale_shift(encoder, seed: int):
    """Shift = mean and scale = 1/std of the latent means of 1024 fresh training renders."""
    rng = np.random.default_rng(seed + 1000)
    means, imgs_all = [], []
    for _ in range(8):
        imgs, _ = C.training_batch(rng, 128)
        m, _ = encoder(image_to_tensor(torch.from_numpy(imgs)))
        means.append(m)
        imgs_all.append(imgs)
    lat = torch.cat(means)
    shift = lat.mean().item()
    return shift, 1.0 / (lat - shift).std().item(), lat, imgs_all


@torch.no_grad()
def fit_latent_stats(a, weights: dict, log: str) -> None:
    """SD3's latent format: z = (latent − shift)·scale with unit variance; then a preview map and PSNR."""
    vae = make_vae()
    vae.load_state_dict(weights)
    vae.eval()
    shift, scale, lat, imgs_all = latent_scale_shift(vae.encoder, a.seed)
    # Preview factors: least squares from the denoiser-space latent (per latent pixel) to the image
    # averaged over each 8×8 block, RGB in 0..1.
    z = ((lat - shift) * scale).permute(0, 2, 3, 1).reshape(-1, 16).double()
    u8 = torch.from_numpy(np.concatenate(imgs_all)).double() / 255.0
    rgb = u8.reshape(-1, 8, 8, 8, 8, 3).mean((2, 4)).reshape(-1, 3)
    A = torch.cat([z, torch.ones(z.shape[0], 1, dtype=torch.float64)], 1)
    sol = torch.linalg.lstsq(A, rgb).solution
    factors, bias = sol[:16].tolist(), sol[16].tolist()
    # Round-trip PSNR on fresh renders (uint8 → latent mean → uint8, the reference conversion).
    from models import tensor_to_image
    imgs, _ = C.training_batch(np.random.default_rng(a.seed + 2000), 256)
    m, _ = vae.encoder(image_to_tensor(torch.from_numpy(imgs)))
    out = tensor_to_image(vae.decoder(m)).numpy().astype(np.float64)
    mse = ((out - imgs.astype(np.float64)) ** 2).mean()
    psnr = 10 * math.log10(255.0 ** 2 / max(mse, 1e-12))
    stats = {"scale": scale, "shift": shift, "preview": {"factors": factors, "bias": bias}, "psnr": psnr}
    path = os.path.join(C.CACHE, "vae_stats.json")
    if os.path.exists(path):
        old = C.load_json(path)
        if abs(old["scale"] - scale) > 1e-6 * abs(scale) or abs(old["shift"] - shift) > 1e-6:
            raise SystemExit(f"the encoder changed since the latents were made (scale {old['scale']} → {scale}, shift {old['shift']} → {shift})")
    C.write_json(os.path.join(C.CACHE, "vae_stats.json"), stats)
    C.log_line(log, f"latent shift {shift:.5f} scale {scale:.5f}; round-trip PSNR {psnr:.2f} dB on 256 renders")


# ----------------------------------------------------------------------------------------------
# Stage 2: text encoders + MM-DiT


def make_text_and_dit(depth: int | None = None):
    ids = C.used_token_ids()
    clip_l = ClipText("l", ids, C.CLIP_L_WIDTH, C.CLIP_HEADS, C.CLIP_LAYERS, C.CLIP_MLP_RATIO)
    clip_g = ClipText("g", ids, C.CLIP_G_WIDTH, C.CLIP_HEADS, C.CLIP_LAYERS, C.CLIP_MLP_RATIO, projection=C.CLIP_G_WIDTH)
    dit = MMDiT(C.DIT_HIDDEN, depth or C.DIT_DEPTH, C.DIT_MLP_RATIO, C.CONTEXT_DIM, C.ADM_DIM, C.DIT_POS_MAX, patch=C.DIT_PATCH, head_dim=C.DIT_HEAD_DIM,
                dual_layers=C.DIT_DUAL_LAYERS)
    return clip_l, clip_g, dit


class Stage2(torch.nn.Module):
    def __init__(self, depth: int | None = None):
        """`depth`: the MM-DiT's, if not common.py's (an earlier run's weights)."""
        super().__init__()
        self.clip_l, self.clip_g, self.dit = make_text_and_dit(depth)

    def cond(self, l_ids, g_ids, t5_rows=77):
        ls, lp = self.clip_l(l_ids)
        gs, gp = self.clip_g(g_ids)
        return conditioning(ls, gs, lp, gp, C.CONTEXT_DIM, t5_rows)


def load_stage2(path: str, raw: bool = False) -> tuple[Stage2, dict]:
    """A stage-2 checkpoint's model (its EMA weights, or the trained ones with `raw`), at the
    checkpoint's own depth, in eval mode; and the checkpoint. A checkpoint without an EMA (restore's
    dit_init.pt, the shipped weights) gives its weights either way."""
    ck = torch.load(path)
    state = ck["model"] if raw or "ema" not in ck else ck["ema"]
    model = Stage2(C.dit_depth_of(state))
    model.load_state_dict(state)
    return model.eval(), ck


def velocity_error(model: Stage2, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor,
                   context: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
    """Stage 2's loss per sample: rectified flow x_t = (1−t)·x0 + t·ε, velocity target ε − x0, the
    compact no-T5 context (one zero row counted 77 times)."""
    tt = t[:, None, None, None]
    v = model.dit((1 - tt) * x0 + tt * eps, 1000 * t, context, pooled, t5_rows=1, t5_weight=77.0)
    return ((v - (eps - x0)) ** 2).mean(dim=(1, 2, 3))


def logit_normal(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.sigmoid(torch.randn(n, generator=gen))


def shift_sigma(t: torch.Tensor, s: float) -> torch.Tensor:
    return s * t / (1 + (s - 1) * t)


def training_sigmas(n: int, gen: torch.Generator, shift: float, at: torch.Tensor | None, share: float) -> torch.Tensor:
    """The training timesteps: the shifted logit-normal, except that a share of them is drawn
    uniformly from the sampler's own σ values. A few-step schedule visits only those points (4
    steps at shift 3: σ 1, 0.858, 0.602, 0.009), and the layout is chosen at the first two, where
    the logit-normal of shift 1 puts 4 % of its mass above σ 0.85."""
    t = shift_sigma(logit_normal(n, gen), shift)
    if at is None or share <= 0:
        return t
    pick = torch.rand(n, generator=gen) < share
    fixed = at[torch.randint(len(at), (n,), generator=gen)]
    return torch.where(pick, fixed, t)


def load_encoder():
    vae_ck = torch.load(os.path.join(C.CACHE, "vae.pt"))
    encoder = make_vae().encoder
    encoder.load_state_dict({k[len("encoder."):]: v for k, v in vae_ck["ema"].items() if k.startswith("encoder.")})
    encoder.eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    return encoder


@torch.no_grad()
def build_latents(a) -> None:
    """Renders `count` training scenes and stores their VAE latents (denoiser space) and captions.

    Encoding costs as much as a DiT training step, so stage 2 reads latents from this cache; each
    scene keeps every caption it supports (scene_captions), one of which is drawn per visit.
    """
    from world import sample_training_scene, render, scene_captions, check_training_scene, CATEGORIES
    log = os.path.join(C.CACHE, "latents.log")
    encoder = load_encoder()
    stats_path = os.path.join(C.CACHE, "vae_stats.json")
    if not os.path.exists(stats_path):
        shift, scale, _, _ = latent_scale_shift(encoder, a.seed)
        C.write_json(stats_path, {"scale": scale, "shift": shift})
        C.log_line(log, f"latent shift {shift:.5f} scale {scale:.5f} (encoder only; vae-stats adds PSNR and previews)")
    stats = C.load_json(stats_path)
    rng = np.random.default_rng(a.seed + 7)
    path = os.path.join(C.CACHE, "latents.pt")
    lat, caps = [], []
    if a.resume and os.path.exists(path):
        d = torch.load(path)
        lat, caps = [d["latents"]], d["captions"]
        rng.bit_generator.state = d["rng"]
    have = sum(x.shape[0] for x in lat)
    t0 = time.time()
    while have < a.count:
        n = min(256, a.count - have)
        imgs = np.empty((n, 64, 64, 3), dtype=np.uint8)
        for i in range(n):
            scene, cap = sample_training_scene(rng, CATEGORIES[rng.integers(len(CATEGORIES))])
            check_training_scene(scene)
            imgs[i] = render(scene)
            others = [c for c in scene_captions(scene) if c != cap]
            caps.append([cap] + others)
        m, _ = encoder(image_to_tensor(torch.from_numpy(imgs)))
        lat.append(((m - stats["shift"]) * stats["scale"]).to(torch.float16))
        have += n
        if have % 2048 == 0 or have >= a.count:
            C.save_atomic({"latents": torch.cat(lat), "captions": caps, "rng": rng.bit_generator.state}, path)
            lat = [torch.cat(lat)]
            C.log_line(log, f"{have} latents, {time.time() - t0:.0f}s")


# The text encoders start from nothing, and through the denoiser alone they learn slowly: their
# pooled vectors stay nearly the same for every caption of a template (cosine 0.98 between "a red
# circle" and "a blue square" after 2000 steps), so the model draws unconditional scenes. An
# auxiliary head, used only in training, reads the caption's content back from the pooled vector
# (what each shape's count and colour are, the relation and its subject), standing in for the
# pretraining a real CLIP has. The head is not part of the model and is not exported.
AUX_SLOTS = [5] * 4 + [9] * 4 + [5, 5]  # count 0–4 per shape; colour (none + 8) per shape; relation; its subject


def caption_targets(caption: str) -> list[int]:
    """The auxiliary head's classes for one caption of WORLD.md's templates (all 0 for "")."""
    import re
    from world import COLOURS, PLURALS, RELATIONS, SHAPES
    counts, colours, rel, subject = [0] * 4, [0] * 4, 0, 0
    words = {"two": 2, "three": 3, "four": 4}
    singular = {p: s for s, p in PLURALS.items()}
    art = r"an? "
    m = re.fullmatch(r"a photo of (two|three|four) (\w+)", caption)
    if m:
        counts[SHAPES.index(singular[m[2]])] = words[m[1]]
    elif (m := re.fullmatch(rf"a photo of {art}(\w+) (left of|right of|above|below) {art}(\w+)", caption)):
        counts[SHAPES.index(m[1])] = counts[SHAPES.index(m[3])] = 1
        rel, subject = 1 + RELATIONS.index(m[2]), 1 + SHAPES.index(m[1])
    elif (m := re.fullmatch(rf"a photo of {art}(\w+) (\w+) and {art}(\w+) (\w+)", caption)):
        for c, sh in ((m[1], m[2]), (m[3], m[4])):
            counts[SHAPES.index(sh)] = 1
            colours[SHAPES.index(sh)] = 1 + COLOURS.index(c)
    elif (m := re.fullmatch(rf"a photo of {art}(\w+) and {art}(\w+)", caption)):
        counts[SHAPES.index(m[1])] = counts[SHAPES.index(m[2])] = 1
    elif (m := re.fullmatch(rf"a photo of {art}(\w+) (\w+)", caption)):
        counts[SHAPES.index(m[2])] = 1
        colours[SHAPES.index(m[2])] = 1 + COLOURS.index(m[1])
    elif (m := re.fullmatch(rf"a photo of {art}(\w+)", caption)):
        counts[SHAPES.index(m[1])] = 1
    elif caption != "":
        raise ValueError(f"not a caption of the world: {caption!r}")
    return counts + colours + [rel, subject]


def aux_loss(head: torch.nn.Linear, pooled: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = head(pooled)
    loss, at = pooled.new_zeros(()), 0
    for j, k in enumerate(AUX_SLOTS):
        loss = loss + F.cross_entropy(logits[:, at:at + k], targets[:, j])
        at += k
    return loss


def train_dit(a) -> None:
    os.makedirs(C.CACHE, exist_ok=True)
    ck_path = os.path.join(C.CACHE, "dit.pt")
    log = os.path.join(C.CACHE, "dit.log")
    lat_path = os.path.join(C.CACHE, "latents.pt")
    lat_mtime = os.path.getmtime(lat_path)
    data = torch.load(lat_path)
    latents, captions = data["latents"], data["captions"]
    sampler_sigmas = torch.tensor([float(x) for x in a.sampler_sigmas.split(",")]) if a.sampler_sigmas else None
    torch.manual_seed(a.seed)
    model = Stage2()
    decay, no_decay = [], []
    if a.freeze_text:
        # The text encoders keep the weights they start with (--init-from or --resume); only the
        # denoiser trains, so its reading of the conditioning cannot pull them along (run 9).
        for p in (*model.clip_l.parameters(), *model.clip_g.parameters()):
            p.requires_grad_(False)
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and "embedding" not in n else no_decay).append(p)
    # (the auxiliary head trains the text encoders, so it has nothing to do while they are frozen)
    head = torch.nn.Linear(C.ADM_DIM, sum(AUX_SLOTS)) if a.aux > 0 and not a.freeze_text else None
    if head is not None:
        decay.append(head.weight)
        no_decay.append(head.bias)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.99))
    ema = C.Ema(model, a.ema)
    rng = np.random.default_rng(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    targets_of: dict[str, list[int]] = {}
    step, elapsed = 0, 0.0
    if a.resume and os.path.exists(ck_path):
        ck = torch.load(ck_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        ema.shadow = ck["ema"]
        rng.bit_generator.state = ck["rng"]
        gen.set_state(ck["gen"])
        if head is not None:
            head.load_state_dict(ck["aux"])
        step, elapsed = ck["step"], ck["elapsed"]
        C.log_line(log, f"resumed at step {step}")
    elif a.init_from:
        # A warm start (see restore): the weights, and their EMA, begin where an earlier run ended;
        # the optimizer, the schedule and the data stream begin anew.
        # Tensors whose shapes changed (the patch embedding and final layer of another patch size)
        # keep their fresh initialisation; everything else carries over. A tensor that only grew
        # along its first dimension (the 6 → 9 adaLN chunks of a block that gains MMDiT-X's second
        # attention) keeps the old rows and the fresh (zero) new ones, so the block starts as it was.
        own = model.state_dict()
        init = grow_depth(torch.load(a.init_from)["model"], C.DIT_DEPTH)
        kept = {k: v for k, v in init.items() if k in own and own[k].shape == v.shape}
        for k, v in init.items():
            if k in own and k not in kept and v.ndim == own[k].ndim and v.shape[1:] == own[k].shape[1:] and v.shape[0] < own[k].shape[0]:
                kept[k] = torch.cat([v, own[k][v.shape[0]:]])
        grown = sorted(k for k in kept if kept[k].shape != init[k].shape)
        fresh = sorted(k for k in own if k not in kept)
        model.load_state_dict({**own, **kept})
        ema = C.Ema(model, a.ema)
        C.log_line(log, f"initialised from {a.init_from}; fresh: {', '.join(fresh) if fresh else 'none'}; "
                        f"grown (old rows kept): {', '.join(grown) if grown else 'none'}")
    ids = C.CaptionIds()
    C.log_line(log, f"dit: hidden {C.DIT_HIDDEN} depth {C.DIT_DEPTH} mlp {C.DIT_MLP_RATIO} params {count(model.dit)}; "
                    f"clip widths L {C.CLIP_L_WIDTH} G {C.CLIP_G_WIDTH} layers {C.CLIP_LAYERS} params L {count(model.clip_l)} G {count(model.clip_g)}; "
                    f"{latents.shape[0]} cached latents; steps {a.steps} batch {a.batch} lr {a.lr} "
                    f"train shift {a.train_shift} dropout {a.dropout}{' text encoders frozen' if a.freeze_text else ''}"
                    f"{f' sampler sigmas {a.sampler_sigmas} share {a.sampler_share}' if sampler_sigmas is not None else ''}")
    t0 = time.time() - elapsed
    t_last_ck = time.time()
    snapshots_at = step // a.keep_every
    acc, acc_aux, n_acc = 0.0, 0.0, 0
    while step < a.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a.steps, a.lr, 300)
        if step % 200 == 0 and os.path.getmtime(lat_path) != lat_mtime:
            # The latent cache is still being written: take its new scenes.
            lat_mtime = os.path.getmtime(lat_path)
            data = torch.load(lat_path)
            latents, captions = data["latents"], data["captions"]
            C.log_line(log, f"step {step}: {latents.shape[0]} cached latents")
        pick = rng.integers(latents.shape[0], size=a.batch)
        x0 = latents[torch.from_numpy(pick)].float()
        caps = []
        for i in pick:
            c = C.pick_caption(rng, captions[i])
            caps.append("" if rng.random() < a.dropout else c)
        l_ids, g_ids = ids(caps)
        context, pooled = model.cond(l_ids, g_ids, t5_rows=1)
        t = training_sigmas(a.batch, gen, a.train_shift, sampler_sigmas, a.sampler_share)
        eps = torch.randn(x0.shape, generator=gen)
        loss = velocity_error(model, x0, t, eps, context, pooled).mean()
        total = loss
        if head is not None:
            targets = torch.tensor([targets_of.setdefault(c, caption_targets(c)) for c in caps], dtype=torch.long)
            la = aux_loss(head, pooled, targets)
            total = loss + a.aux * la
            acc_aux += la.item()
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model, min(a.ema, (1 + step) / (10 + step)))
        step += 1
        acc += loss.item()
        n_acc += 1
        if step % 100 == 0 or step == a.steps:
            el = time.time() - t0
            aux = f" aux {acc_aux / n_acc:.4f}" if head is not None else ""
            C.log_line(log, f"step {step} loss {acc / n_acc:.5f}{aux} lr {opt.param_groups[0]['lr']:.2e} "
                            f"elapsed {el:.0f}s samples/s {step * a.batch / max(el, 1e-9):.1f}")
            acc, acc_aux, n_acc = 0.0, 0.0, 0
        if time.time() - t_last_ck > a.checkpoint_s or step == a.steps:
            C.save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "ema": ema.shadow, "rng": rng.bit_generator.state,
                           "gen": gen.get_state(), "step": step, "elapsed": time.time() - t0,
                           "aux": head.state_dict() if head is not None else None}, ck_path)
            # Snapshots along the way, to compare scores against training time.
            # (the first checkpoint past each multiple of --keep-every: checkpoints come by time, not by step)
            if step // a.keep_every > snapshots_at or step == a.steps:
                snapshots_at = step // a.keep_every
                C.save_atomic({"ema": ema.shadow, "step": step}, os.path.join(C.CACHE, f"dit_ema_{step:07d}.pt"))
            t_last_ck = time.time()
    C.log_line(log, f"dit training done: {step} steps, wall {time.time() - t0:.0f}s")


def grow_depth(state: dict, depth: int) -> dict:
    """Renames a shallower MM-DiT's blocks for a deeper one: the first blocks keep their places and
    the last (context_pre_only) block becomes the new last one. The blocks in between are left out,
    so they keep their fresh adaLN-Zero initialisation: zero gates make each one the identity, and
    the deeper model starts as the shallower one exactly."""
    prefix = "dit.joint_blocks."
    old = C.dit_depth_of(state)
    if old == 0 or old >= depth:
        return state
    out = {}
    for k, v in state.items():
        if k.startswith(prefix):
            i, rest = k[len(prefix):].split(".", 1)
            k = f"{prefix}{depth - 1 if int(i) == old - 1 else int(i)}.{rest}"
        out[k] = v
    return out


# ----------------------------------------------------------------------------------------------
# Warm start from the bundled model


def restore(a) -> None:
    """Rebuilds the training cache from a converted model folder (the committed bundled model), so
    that a fresh machine continues stage 2 from it instead of from scratch: vae.pt (the VAE's
    weights as EMA and model), vae_stats.json (the manifest's scale, shift and preview) and
    dit_init.pt (text encoders + MM-DiT) for `dit --init-from`. The stored values are f16, so the
    restored weights are the trained ones rounded to f16."""
    from vectors import stored_weights, training_key
    manifest, weights = stored_weights(a.source)
    s2, vae = Stage2(), make_vae()
    ref2, refv = s2.state_dict(), vae.state_dict()
    used = torch.tensor(s2.clip_l.used_ids)
    state2, statev = {}, {}
    for name, (v, _fmt) in weights.items():
        t = torch.from_numpy(np.ascontiguousarray(v)).float()
        part, key = training_key(name)
        target, ref = (state2, ref2) if part == "stage2" else (statev, refv)
        if key.endswith("text_model.embeddings.token_embedding.weight"):
            t = t[used]
        if key not in ref:
            raise SystemExit(f"{name}: no such tensor in the training model ({key})")
        if t.shape != ref[key].shape and t.ndim == 4 and t.shape[1] > ref[key].shape[1]:
            t = t[:, : ref[key].shape[1]]  # conv_in's padded colour channel (zeros)
        target[key] = t.contiguous()
    s2.load_state_dict(state2)
    vae.load_state_dict(statev)
    os.makedirs(C.CACHE, exist_ok=True)
    vs = vae.state_dict()
    C.save_atomic({"model": vs, "ema": vs, "restored_from": a.source}, os.path.join(C.CACHE, "vae.pt"))
    cfg = manifest["components"]["vae"]["config"]
    C.write_json(os.path.join(C.CACHE, "vae_stats.json"), {"scale": cfg["scale"], "shift": cfg["shift"], "preview": manifest["preview"]})
    C.save_atomic({"model": s2.state_dict(), "restored_from": a.source}, os.path.join(C.CACHE, "dit_init.pt"))
    print(f"restored vae.pt, vae_stats.json and dit_init.pt in {C.CACHE} from {a.source}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["vae", "vae-stats", "latents", "dit", "restore"])
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--kl", type=float, default=1e-5, help="KL weight of the VAE")
    ap.add_argument("--crop-until", type=int, default=0, help="VAE: steps on 32x32 crops before full images")
    ap.add_argument("--full-batch", type=int, default=16, help="VAE: batch of the full-size steps")
    ap.add_argument("--counting-share", type=float, default=0.0, help="VAE: share of counting scenes in the full-size steps")
    ap.add_argument("--freeze-encoder-at", type=int, default=None, help="VAE: step from which only the decoder trains")
    ap.add_argument("--dropout", type=float, default=0.1, help="caption dropout to the empty prompt")
    ap.add_argument("--train-shift", type=float, default=1.0, help="shift of the logit-normal training timesteps")
    ap.add_argument("--sampler-sigmas", default="", help="dit: comma-separated σ values (the sampler's schedule) that --sampler-share of each batch trains at")
    ap.add_argument("--sampler-share", type=float, default=0.0, help="dit: share of training timesteps drawn from --sampler-sigmas instead of the logit-normal")
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--freeze-text", action="store_true", help="dit: train the denoiser only; the text encoders keep their weights")
    ap.add_argument("--aux", type=float, default=0.05, help="dit: weight of the text encoders' auxiliary caption-content loss (0: off)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint-s", type=float, default=240.0)
    ap.add_argument("--keep-every", type=int, default=5000)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init-from", default=None, help="dit: start from these weights (restore writes dit_init.pt)")
    ap.add_argument("--source", default="demo/public/models/mmdit-tiny", help="restore: the converted model folder")
    ap.add_argument("--count", type=int, default=30000, help="latents: scenes to encode")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    if a.stage == "vae":
        a.steps, a.batch, a.lr = a.steps or 3000, a.batch or 32, a.lr or 1e-3
        train_vae(a)
    elif a.stage == "vae-stats":
        fit_latent_stats(a, torch.load(os.path.join(C.CACHE, "vae.pt"))["ema"], os.path.join(C.CACHE, "vae.log"))
    elif a.stage == "restore":
        restore(a)
    elif a.stage == "latents":
        a.batch = a.batch or 256
        build_latents(a)
    else:
        a.steps, a.batch, a.lr = a.steps or 20000, a.batch or 64, a.lr or 1e-3
        train_dit(a)


if __name__ == "__main__":
    main()
