"""Few-step distillation: a student denoiser whose guided Euler steps on the engine's short schedule
land where the teacher's guided steps on a longer schedule land.

  python3 tools/train/distill.py [--teacher dit_ema_0003000.pt] [--steps 600] [--bank 2048]
         [--student-steps 4] [--teacher-steps 16] [--guidance 5] [--shift 3] [--filter] [--resume]

A better-trained denoiser estimates the conditional mean better, and four Euler steps from it give
that mean, a blur of the layouts a caption allows (training README, run 9: 0.174 at 4 steps, 0.331 at
16). The engine's sampler stays as it is (SD3's schedule, Euler, CFG against the empty prompt); only
the weights change. The teacher's schedule must contain the student's points (16 steps contain
those of 4 at any shift: every fifth τ of the same linear grid).

1. A bank of teacher trajectories from noise, for training captions only (no held-out combination
   is ever drawn), guided as the engine guides: the states at the student's σ points.
2. The student (the teacher's weights; text encoders frozen) learns, per sample, one of its steps:
   from the teacher's state at σ_k, its guided velocity vu + g·(vc − vu) should be the teacher's
   mean velocity to σ_k+1, (x_k+1 − x_k) / (σ_k+1 − σ_k).

3. With `--filter`, only trajectories whose final picture the world's detector judges correct for
   its caption (tools/world/judge.ts) are trained on: the student learns the teacher's way to its
   right answers, not to its blurs.

Checkpoints go to the cache folder as distill.pt ({"model", "ema", "step"}, as sample.py reads
them); the bank as distill_bank.pt.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from pngio import write_png  # noqa: E402
from sample import LatentDecoder, guided_velocity  # noqa: E402
from student import Conditioning, resume_student, save_student, teacher_and_student  # noqa: E402
from train import Stage2, lr_at  # noqa: E402
from vectors import sigmas  # noqa: E402


def point_indices(student_steps: int, teacher_steps: int, shift: float) -> list[int]:
    """Where the student's σ points lie on the teacher's schedule (both end with σ 0)."""
    st, te = sigmas(student_steps, shift), sigmas(teacher_steps, shift)
    out = []
    for s in st:
        k = min(range(len(te)), key=lambda i: abs(te[i] - s))
        if abs(te[k] - s) > 1e-9:
            raise ValueError(f"--teacher-steps {teacher_steps}: its schedule lacks the student's σ {s:.6f} "
                             f"(teacher_steps − 1 must be a multiple of student_steps − 1)")
        out.append(k)
    return out


@torch.no_grad()
def build_bank(a, teacher: Stage2, log: str) -> dict:
    path = os.path.join(C.CACHE, "distill_bank.pt")
    if os.path.exists(path):
        bank = torch.load(path)
        if bank["config"] == [a.student_steps, a.teacher_steps, a.guidance, a.shift, a.teacher, a.bank]:
            return bank
    te = sigmas(a.teacher_steps, a.shift)
    at = point_indices(a.student_steps, a.teacher_steps, a.shift)
    data = torch.load(os.path.join(C.CACHE, "latents.pt"))
    captions = data["captions"]
    shape = tuple(data["latents"].shape[1:])
    rng = np.random.default_rng(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    ids = C.CaptionIds()
    caps_all, states = [], []
    t0 = time.time()
    for s in range(0, a.bank, 64):
        n = min(64, a.bank - s)
        caps = []
        for i in rng.integers(len(captions), size=n):
            opts = captions[i]
            caps.append(opts[int(rng.integers(len(opts)))])
        l_ids, g_ids = ids(caps + [""])
        ctx, pooled = teacher.cond(l_ids, g_ids, t5_rows=1)
        ctx_u, pooled_u = ctx[n:].expand(n, -1, -1), pooled[n:].expand(n, -1)
        x = te[0] * torch.randn((n, *shape), generator=gen)
        kept = [x]
        for k in range(len(te) - 1):
            v = guided_velocity(teacher, x, te[k], ctx[:n], pooled[:n], ctx_u, pooled_u, a.guidance)
            x = x + v * (te[k + 1] - te[k])
            if k + 1 in at:
                kept.append(x)
        states.append(torch.stack(kept, dim=1).to(torch.float16))
        caps_all += caps
        C.log_line(log, f"bank: {s + n} trajectories, {time.time() - t0:.0f}s")
    bank = {"states": torch.cat(states), "captions": caps_all, "sigmas": [te[k] for k in at],
            "config": [a.student_steps, a.teacher_steps, a.guidance, a.shift, a.teacher, a.bank]}
    C.save_atomic(bank, path)
    return bank


@torch.no_grad()
def judge_bank(bank: dict, log: str) -> torch.Tensor:
    """The world's detector on each trajectory's final picture (the VAE decode of its σ-0 state),
    against its caption: True where the picture shows it. Run once per bank and kept in it."""
    out = os.path.join(C.CACHE, "distill_judge")
    os.makedirs(out, exist_ok=True)
    decode = LatentDecoder()
    entries = []
    final = bank["states"][:, -1].float()
    for s in range(0, len(final), 64):
        imgs = decode(final[s:s + 64])
        for i, im in enumerate(imgs):
            entries.append({"id": f"t{s + i:06d}", "prompt": bank["captions"][s + i]})
            write_png(os.path.join(out, f"t{s + i:06d}.png"), im)
    prompts, verdicts = os.path.join(out, "prompts.json"), os.path.join(out, "verdicts.json")
    with open(prompts, "w") as f:
        json.dump(entries, f)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    res = subprocess.run(["npx", "vite-node", "tools/world/judge.ts", "--", "--prompts", prompts, "--images", out,
                          "--out", verdicts], cwd=root, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"tools/world/judge.ts failed: {res.stderr.strip()}")
    C.log_line(log, "teacher's final pictures, share correct:\n" + res.stdout.rstrip())
    v = C.load_json(verdicts)
    return torch.tensor([bool(v[e["id"]]) for e in entries])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default=os.path.join(C.CACHE, "dit_ema_0003000.pt"))
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--bank", type=int, default=2048, help="teacher trajectories")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--student-steps", type=int, default=4)
    ap.add_argument("--teacher-steps", type=int, default=16)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--shift", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint-s", type=float, default=240.0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--filter", action="store_true",
                    help="train only on trajectories whose final picture the world's detector judges correct")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    log = os.path.join(C.CACHE, "distill.log")
    ck_path = os.path.join(C.CACHE, "distill.pt")
    teacher, student = teacher_and_student(a.teacher)
    bank = build_bank(a, teacher, log)
    opt = torch.optim.AdamW([p for p in student.dit.parameters()], lr=a.lr, betas=(0.9, 0.99), weight_decay=0.0)
    ema = C.Ema(student, a.ema)
    rng = np.random.default_rng(a.seed + 1)
    step = resume_student(ck_path, student, opt, ema, rng) if a.resume else 0
    states, caps_all = bank["states"], bank["captions"]
    usable = torch.arange(len(caps_all))
    if a.filter:
        if "correct" not in bank:
            bank["correct"] = judge_bank(bank, log)
            C.save_atomic(bank, os.path.join(C.CACHE, "distill_bank.pt"))
        usable = torch.nonzero(bank["correct"]).flatten()
        if len(usable) == 0:
            raise ValueError("--filter: the detector judged none of the teacher's pictures correct")
    sig = torch.tensor(bank["sigmas"], dtype=torch.float32)
    conds = Conditioning(student)
    ctx_u, pooled_u = (x.expand(a.batch, *x.shape[1:]) for x in conds([""]))
    C.log_line(log, f"distill: {len(usable)} of {len(caps_all)} trajectories, σ points {[round(float(s), 4) for s in sig]}, "
                    f"steps {a.steps} batch {a.batch} lr {a.lr} guidance {a.guidance}")
    t0, t_ck, acc, n_acc = time.time(), time.time(), 0.0, 0
    segments = len(sig) - 1
    while step < a.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a.steps, a.lr, 50)
        pick = usable[torch.from_numpy(rng.integers(len(usable), size=a.batch))]
        seg = torch.from_numpy(rng.integers(segments, size=a.batch))
        x = states[pick, seg].float()
        target = states[pick, seg + 1].float()
        s0, s1 = sig[seg], sig[seg + 1]
        ctx, pooled = conds([caps_all[int(i)] for i in pick])
        v = guided_velocity(student, x, s0, ctx, pooled, ctx_u, pooled_u, a.guidance)
        v_target = (target - x) / (s1 - s0)[:, None, None, None]
        loss = ((v - v_target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.dit.parameters(), 1.0)
        opt.step()
        ema.update(student)
        step += 1
        acc += loss.item()
        n_acc += 1
        if step % 25 == 0 or step == a.steps:
            C.log_line(log, f"step {step} loss {acc / n_acc:.5f} lr {opt.param_groups[0]['lr']:.2e} elapsed {time.time() - t0:.0f}s")
            acc, n_acc = 0.0, 0
        if time.time() - t_ck > a.checkpoint_s or step == a.steps:
            save_student(ck_path, student, opt, ema, step, rng)
            t_ck = time.time()
    C.log_line(log, f"distill done: {step} steps, wall {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
