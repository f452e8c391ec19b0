"""Mid-σ capacity (run 18): a deeper denoiser whose new blocks learn the band of σ where the shipped
sampler loses its pictures, while its own sampler stays the teacher's everywhere else.

  python3 tools/train/band.py --teacher ~/.cache/mmdit-train/dit_init.pt --depth 7 --band 0.35,0.75 \
    --steps 600 --keep 200,400                     # writes band.pt; band_<step>.pt at the kept steps

partial.py (README, run 16) shows the shipped model keeps nine scenes in ten when denoising starts
at σ 0.432, but only half from σ 0.668: its prediction at mid σ, where a scene's layout is visible
and its shapes are not yet drawn, is where pictures are lost, and the 64-wide, 5-deep denoiser fits
no better there under more of stage 2's loss (runs 8 and 9). So the student gets more depth: the
teacher's blocks grown to `--depth` as train.py's `grow_depth` does, the new blocks zero-gated, so
the student starts as the teacher exactly. Each step then has
- stage 2's loss (rectified flow, the empty prompt at 10 %) on cached training scenes at σ drawn
  uniformly from `--band` only, its velocity target guided for captioned rows (band_rows); and
- anchor rows: the teacher's own 6-step sampler at guidance 1 from fresh noise, and at each of its
  states whose σ lies outside the band, the student's velocity held to the teacher's, so the
  reward-tuned steps that choose a layout (σ ≥ 0.8) and the last one are kept as they were.
The text encoders stay the teacher's (no held-out drift, run 8).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from reward import training_captions  # noqa: E402
from sample import guided_velocity  # noqa: E402
from student import Conditioning, StudentTraining  # noqa: E402
from train import Stage2, grow_depth, load_stage2  # noqa: E402
from vectors import sigmas  # noqa: E402


def grown_student(teacher: Stage2, depth: int) -> Stage2:
    """The teacher at `depth` blocks (the new ones the identity), its denoiser trainable."""
    student = Stage2(depth)
    own = student.state_dict()
    grown = grow_depth(teacher.state_dict(), depth) if depth > C.dit_depth_of(teacher.state_dict()) else teacher.state_dict()
    student.load_state_dict({**own, **{k: v for k, v in grown.items() if k in own}})
    for p in student.parameters():
        p.requires_grad_(False)
    for p in student.dit.parameters():
        p.requires_grad_(True)
    student.dit.train()
    return student


def band_rows(teacher: Stage2, student: Stage2, conds: Conditioning, latents, captions, n: int,
              band: tuple[float, float], guidance: float, run) -> torch.Tensor:
    """Stage 2's loss at σ in the band, with a guided target for captioned rows: the teacher's
    empty-prompt velocity v_u plus `guidance` × (ε − x0 − v_u), whose minimiser is CFG at that
    guidance. The shipped conditional rows carry guidance (distilled, run 14: about 3.5 against
    their own empty-prompt rows at σ 0.43–0.67), and a plain velocity target would pull them back
    to the unguided mean (the first 20 steps of a plain run took its band loss from 0.65 to 0.46)."""
    pick = run.rng.integers(latents.shape[0], size=n)
    x0 = latents[torch.from_numpy(pick)].float()
    empty = torch.from_numpy(run.rng.random(n) < 0.1)
    caps = ["" if e else C.pick_caption(run.rng, captions[i]) for e, i in zip(empty.tolist(), pick)]
    ctx, pooled = conds(caps)
    t = band[0] + (band[1] - band[0]) * torch.rand(n, generator=run.gen)
    eps = torch.randn(x0.shape, generator=run.gen)
    tt = t[:, None, None, None]
    xt = (1 - tt) * x0 + tt * eps
    target = eps - x0
    if guidance != 1:
        cu, pu = conds([""])
        with torch.no_grad():
            vu = teacher.dit(xt, 1000 * t, cu.expand(n, -1, -1), pu.expand(n, -1), t5_rows=1, t5_weight=77.0)
        w = torch.where(empty, torch.ones(()), torch.full((), guidance))[:, None, None, None]
        target = vu + w * (target - vu)
    v = student.dit(xt, 1000 * t, ctx, pooled, t5_rows=1, t5_weight=77.0)
    # The guided target's noise is guidance² times stage 2's; dividing by it keeps the band rows'
    # pull level with the anchor's, as at guidance 1.
    return ((v - target) ** 2).mean() / max(1.0, guidance) ** 2


def anchor_rows(teacher: Stage2, student: Stage2, conds: Conditioning, caps: list[str], sig: list[float],
                band: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
    n = len(caps)
    ctx, pooled = conds(caps)
    states, at, targets = [], [], []
    with torch.no_grad():
        x = torch.randn(n, 16, 8, 8, generator=gen) * sig[0]
        for k in range(len(sig) - 1):
            v = guided_velocity(teacher, x, sig[k], ctx, pooled, ctx, pooled, 1.0)
            if not band[0] <= sig[k] <= band[1]:
                states.append(x)
                at.append(torch.full((n,), sig[k]))
                targets.append(v)
            x = x + v * (sig[k + 1] - sig[k])
    m = len(states)
    v = guided_velocity(student, torch.cat(states), torch.cat(at), ctx.repeat(m, 1, 1), pooled.repeat(m, 1),
                        ctx.repeat(m, 1, 1), pooled.repeat(m, 1), 1.0)
    return ((v - torch.cat(targets)) ** 2).mean()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default=os.path.join(C.CACHE, "dit_init.pt"))
    ap.add_argument("--depth", type=int, default=7)
    ap.add_argument("--band", default="0.35,0.75", help="σ range of stage 2's rows; the anchor holds the rest")
    ap.add_argument("--fm-rows", type=int, default=48)
    ap.add_argument("--band-guidance", type=float, default=3.5, help="the band rows' guided target (1: stage 2's own)")
    ap.add_argument("--anchor-rows", type=int, default=16, help="teacher trajectories per step")
    ap.add_argument("--anchor-weight", type=float, default=1.0)
    ap.add_argument("--sampler-steps", type=int, default=6)
    ap.add_argument("--shift", type=float, default=3.0)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--keep", default="", help="steps whose EMA is also kept as band_<step>.pt, comma-separated")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint-s", type=float, default=240.0)
    ap.add_argument("--resume", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    keep = {int(s) for s in a.keep.split(",") if s}
    band = tuple(float(s) for s in a.band.split(","))
    log = os.path.join(C.CACHE, "band.log")
    teacher, _ = load_stage2(a.teacher)
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = grown_student(teacher, a.depth)
    conds = Conditioning(teacher)
    data = torch.load(os.path.join(C.CACHE, "latents.pt"))
    latents, captions = data["latents"], data["captions"]
    run = StudentTraining(student, os.path.join(C.CACHE, "band.pt"), a.lr, a.ema, a.seed + 3, a.resume, a.checkpoint_s)
    sig = sigmas(a.sampler_steps, a.shift)
    C.log_line(log, f"band: teacher {a.teacher} depth {a.depth} band {band} fm {a.fm_rows} anchor {a.anchor_rows} x "
                    f"{a.sampler_steps} steps shift {a.shift} band guidance {a.band_guidance} lr {a.lr} steps {a.steps} from step {run.step}")
    t0, acc, n_acc = time.time(), {"band": 0.0, "anchor": 0.0}, 0
    while run.step < a.steps:
        run.schedule(a.steps, a.lr, 20)
        loss_b = band_rows(teacher, student, conds, latents, captions, a.fm_rows, band, a.band_guidance, run)
        loss_a = anchor_rows(teacher, student, conds, training_captions(run.rng, captions, a.anchor_rows), sig, band, run.gen)
        run.update(loss_b + a.anchor_weight * loss_a)
        acc["band"] += loss_b.item()
        acc["anchor"] += loss_a.item()
        n_acc += 1
        if run.step % 10 == 0 or run.step == a.steps:
            C.log_line(log, f"step {run.step} band {acc['band'] / n_acc:.4f} anchor {acc['anchor'] / n_acc:.5f} "
                            f"lr {run.lr:.2e} elapsed {time.time() - t0:.0f}s")
            acc, n_acc = {"band": 0.0, "anchor": 0.0}, 0
        run.checkpoint(now=run.step == a.steps or run.step in keep)
        if run.step in keep:
            C.save_atomic({"ema": run.ema.shadow, "step": run.step}, os.path.join(C.CACHE, f"band_{run.step:05d}.pt"))
    C.log_line(log, f"band done: {run.step} steps, wall {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
