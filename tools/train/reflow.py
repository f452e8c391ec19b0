"""Reflow on ground-truth scenes: straight paths from noise to the world's own pictures (run 12).

  python3 tools/train/reflow.py [--coupling nearest|inversion] [--teacher dit_init.pt] [--pairs 6144]
         [--steps 1500] [--fm-share 0.25] [--guidance 1] [--match-sigma 0.6] [--invert-steps 16] [--resume]

Few Euler steps are exact on straight paths, and ordinary flow matching pairs each scene with
independent noise, so its paths bend and four steps give a blur (README, runs 7 and 9). Rectified
flow's reflow straightens them by training on coupled pairs (noise, picture). Distillation (run 10)
took the pictures from the teacher, which is right about a third of the time. Here they are
ground-truth scenes, and the teacher only couples them to noise, in one of two ways:

- `nearest`: fresh noise, the teacher's guided trajectory from it (distill.py's bank), and the cached
  training scene of the same caption likeliest to have been noised to the trajectory's state at
  `--match-sigma`. The noise is a true normal sample and the picture a correct scene; the map between
  them is piecewise, so the lines are learnt only in part.
- `inversion`: cached training scenes run backwards through the teacher's conditional ODE, from σ 0
  to σ 1. The noise keeps the scene's layout, but it is under-dispersed (std ≈ 0.81), so each is
  rescaled to the norm a standard normal sample has (√1024). The student then draws those scenes
  from their noise, and not from fresh noise: inverted noise is not normal noise (README, run 12).

The student (the teacher's weights; text encoders frozen) learns the straight line of each pair,
x_σ = (1 − σ)·x0 + σ·ε, velocity ε − x0, at σ uniform and at the sampler's own σ points, through the
guided velocity at `--guidance` (1: the conditional one alone). A share of each batch (`--fm-share`)
keeps stage 2's loss on fresh noise with caption dropout, so the unconditional branch and the
held-out pairs stay where stage 2 left them.

Checkpoints go to the cache folder as reflow.pt ({"model", "ema", "step"}, as sample.py and export.py
read them); the banks as distill_bank.pt (nearest) and reflow_bank.pt (inversion), written as they
grow, so all resume.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from sample import guided_velocity  # noqa: E402
from student import Conditioning, StudentTraining, stage2_rows, teacher_and_student  # noqa: E402
from train import Stage2, velocity_error  # noqa: E402
from vectors import sigmas  # noqa: E402


@torch.no_grad()
def invert(model: Stage2, x0: torch.Tensor, ctx: torch.Tensor, pooled: torch.Tensor, steps: int, shift: float) -> torch.Tensor:
    """Euler steps of the conditional ODE from σ 0 up to σ 1 (the sampler's schedule, reversed)."""
    sig = sigmas(steps, shift)[::-1]
    x = x0
    for k in range(len(sig) - 1):
        t = torch.full((x.shape[0],), 1000 * sig[k])
        x = x + model.dit(x, t, ctx, pooled, t5_rows=1, t5_weight=77.0) * (sig[k + 1] - sig[k])
    return x


@torch.no_grad()
def nearest_pairs(a, teacher: Stage2, log: str) -> dict:
    """Fresh noise coupled to ground truth through the teacher: its guided trajectory from each noise
    (distill.py's bank) to its state at `--match-sigma` (the bank's nearest σ point; 0.602 by default,
    where the layout is chosen), then the cached training scene of the same caption likeliest to have
    been noised to that state, argmin ‖x_σ − (1 − σ)·x0‖²."""
    from distill import build_bank as teacher_bank
    bank = teacher_bank(argparse.Namespace(student_steps=4, teacher_steps=16, guidance=a.teacher_guidance, shift=a.shift,
                                           teacher=a.teacher, bank=a.pairs, seed=a.seed), teacher, log)
    k = min(range(len(bank["sigmas"])), key=lambda i: abs(bank["sigmas"][i] - a.match_sigma))
    sigma = bank["sigmas"][k]
    data = torch.load(os.path.join(C.CACHE, "latents.pt"))
    pool: dict[str, list[int]] = {}
    for i, opts in enumerate(data["captions"]):
        for c in opts:
            pool.setdefault(c, []).append(i)
    x0 = torch.empty(bank["states"].shape[0], *bank["states"].shape[2:])
    for c in sorted(set(bank["captions"])):
        if c not in pool:
            raise ValueError(f"caption {c!r}: no cached training scene shows it (latents.pt)")
        rows = [i for i, b in enumerate(bank["captions"]) if b == c]
        cand = data["latents"][torch.tensor(pool[c])].float()
        xs = bank["states"][rows, k].float()
        d = torch.cdist(xs.flatten(1), (1 - sigma) * cand.flatten(1))
        x0[rows] = cand[d.argmin(dim=1)]
    C.log_line(log, f"nearest: {len(bank['captions'])} teacher trajectories matched at σ {sigma:.4f} to cached scenes of their captions")
    return {"x0": x0.to(torch.float16), "eps": bank["states"][:, 0], "captions": bank["captions"]}


def build_bank(a, teacher: Stage2, conds: Conditioning, log: str) -> dict:
    if a.coupling == "nearest":
        return nearest_pairs(a, teacher, log)
    path = os.path.join(C.CACHE, "reflow_bank.pt")
    config = [a.teacher, a.invert_steps, a.shift, a.seed]
    bank = {"x0": [], "eps": [], "captions": [], "config": config}
    if os.path.exists(path):
        old = torch.load(path)
        if old["config"] == config:
            bank = {**old, "x0": [old["x0"]], "eps": [old["eps"]]}
    have = sum(x.shape[0] for x in bank["x0"])
    if have >= a.pairs:
        return {**bank, "x0": torch.cat(bank["x0"])[:a.pairs], "eps": torch.cat(bank["eps"])[:a.pairs],
                "captions": bank["captions"][:a.pairs]}
    data = torch.load(os.path.join(C.CACHE, "latents.pt"))
    if a.pairs > len(data["captions"]):
        raise ValueError(f"--pairs {a.pairs}: the latent cache holds {len(data['captions'])} scenes, each inverted once")
    # Scenes and captions in a fixed order from the seed, so a resumed bank goes on where it stopped.
    order = np.random.default_rng(a.seed).permutation(len(data["captions"]))
    rng = np.random.default_rng(a.seed + 3)
    caps_all = [C.pick_caption(rng, data["captions"][i]) for i in order]
    t0 = time.time()
    while have < a.pairs:
        n = min(64, a.pairs - have)
        rows, caps = order[have:have + n], caps_all[have:have + n]
        x0 = data["latents"][torch.from_numpy(rows)].float()
        ctx, pooled = conds(caps)
        eps = invert(teacher, x0, ctx, pooled, a.invert_steps, a.shift)
        eps = eps * (math.sqrt(eps[0].numel()) / eps.flatten(1).norm(dim=1))[:, None, None, None]
        bank["x0"].append(x0.to(torch.float16))
        bank["eps"].append(eps.to(torch.float16))
        bank["captions"] += caps
        have += n
        if have % 1024 == 0 or have >= a.pairs:
            C.save_atomic({**bank, "x0": torch.cat(bank["x0"]), "eps": torch.cat(bank["eps"])}, path)
            C.log_line(log, f"bank: {have} pairs, {time.time() - t0:.0f}s")
    return {**bank, "x0": torch.cat(bank["x0"]), "eps": torch.cat(bank["eps"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default=os.path.join(C.CACHE, "dit_init.pt"))
    ap.add_argument("--pairs", type=int, default=6144, help="pairs: teacher trajectories (nearest) or scenes inverted (inversion)")
    ap.add_argument("--coupling", choices=["inversion", "nearest"], default="nearest",
                    help="inversion: ground truth run back to noise; nearest: teacher trajectories from noise, matched to ground truth")
    ap.add_argument("--invert-steps", type=int, default=16)
    ap.add_argument("--teacher-guidance", type=float, default=5.0, help="nearest: the teacher trajectories' guidance")
    ap.add_argument("--match-sigma", type=float, default=0.6, help="nearest: where trajectories are matched")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--fm-share", type=float, default=0.25, help="share of each batch on stage 2's own loss")
    ap.add_argument("--dropout", type=float, default=0.1, help="caption dropout of the stage-2 share")
    ap.add_argument("--guidance", type=float, default=1.0, help="the guided velocity the straight lines train")
    ap.add_argument("--sampler-steps", default="4,8", help="schedules whose σ points half the reflow samples use")
    ap.add_argument("--shift", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint-s", type=float, default=240.0)
    ap.add_argument("--resume", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    log = os.path.join(C.CACHE, "reflow.log")
    ck_path = os.path.join(C.CACHE, "reflow.pt")
    teacher, student = teacher_and_student(a.teacher)
    conds = Conditioning(teacher)
    bank = build_bank(a, teacher, conds, log)
    data = torch.load(os.path.join(C.CACHE, "latents.pt"))
    latents, captions = data["latents"], data["captions"]
    run = StudentTraining(student, ck_path, a.lr, a.ema, a.seed + 1, a.resume, a.checkpoint_s)
    rng, gen = run.rng, run.gen
    points = torch.tensor(sorted({round(s, 6) for n in a.sampler_steps.split(",") for s in sigmas(int(n), a.shift)[:-1]}),
                          dtype=torch.float32)
    n_fm = int(round(a.batch * a.fm_share))
    n_rf = a.batch - n_fm
    C.log_line(log, f"reflow: {len(bank['captions'])} pairs, steps {a.steps} batch {n_rf} reflow + {n_fm} stage-2, "
                    f"lr {a.lr} guidance {a.guidance}, σ points {[round(float(s), 4) for s in points]}")
    t0, acc_rf, acc_fm, n_acc = time.time(), 0.0, 0.0, 0
    ctx_u, pooled_u = conds([""])
    while run.step < a.steps:
        run.schedule(a.steps, a.lr, 50)
        # Reflow rows: straight lines of the bank's pairs.
        pick = torch.from_numpy(rng.integers(len(bank["captions"]), size=n_rf))
        x0, eps = bank["x0"][pick].float(), bank["eps"][pick].float()
        at_points = torch.rand(n_rf, generator=gen) < 0.5
        s = torch.where(at_points, points[torch.randint(len(points), (n_rf,), generator=gen)], torch.rand(n_rf, generator=gen))
        ctx, pooled = conds([bank["captions"][int(i)] for i in pick])
        if a.guidance == 1.0:
            # The conditional velocity alone: stage 2's own loss, on the pairs' lines.
            loss_rf = velocity_error(student, x0, s, eps, ctx, pooled).mean()
        else:
            ss = s[:, None, None, None]
            v = guided_velocity(student, (1 - ss) * x0 + ss * eps, s, ctx, pooled,
                                ctx_u.expand(n_rf, -1, -1), pooled_u.expand(n_rf, -1), a.guidance)
            loss_rf = ((v - (eps - x0)) ** 2).mean()
        loss = loss_rf * n_rf / a.batch
        if n_fm:
            loss_fm = stage2_rows(student, conds, latents, captions, n_fm, rng, gen, a.dropout)
            loss = loss + loss_fm * n_fm / a.batch
            acc_fm += loss_fm.item()
        run.update(loss)
        acc_rf += loss_rf.item()
        n_acc += 1
        if run.step % 25 == 0 or run.step == a.steps:
            C.log_line(log, f"step {run.step} reflow {acc_rf / n_acc:.5f} stage-2 {acc_fm / n_acc:.5f} "
                            f"lr {run.lr:.2e} elapsed {time.time() - t0:.0f}s")
            acc_rf, acc_fm, n_acc = 0.0, 0.0, 0
        run.checkpoint(now=run.step == a.steps)
    C.log_line(log, f"reflow done: {run.step} steps, wall {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
