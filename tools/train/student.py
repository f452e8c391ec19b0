"""A student denoiser made from a frozen teacher, for distill.py, reflow.py and reward.py: the two
models, the frozen text encoders' conditioning, the student's training state (optimizer, EMA, random
streams, step) and its rows of stage 2's own loss, and the student's checkpoint (resumable, and read
by sample.py and export.py as any stage-2 checkpoint: {"model", "ema", "step"})."""
from __future__ import annotations

import copy
import os
import time

import numpy as np
import torch

import common as C
from train import Stage2, load_stage2, logit_normal, lr_at, velocity_error
from world import all_captions


def teacher_and_student(path: str) -> tuple[Stage2, Stage2]:
    """The checkpoint's model twice: a frozen teacher, and a student whose denoiser trains (its text
    encoders stay the teacher's)."""
    teacher, _ = load_stage2(path)
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = copy.deepcopy(teacher)
    for p in student.dit.parameters():
        p.requires_grad_(True)
    student.dit.train()
    return teacher, student


class Conditioning:
    """The frozen text encoders' outputs for every caption of the world and the empty prompt, once."""

    def __init__(self, model: Stage2):
        caps = sorted(set(all_captions())) + [""]
        self.row = {c: i for i, c in enumerate(caps)}
        with torch.no_grad():
            self.ctx, self.pooled = model.cond(*C.CaptionIds()(caps), t5_rows=1)

    def __call__(self, caps: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        r = torch.tensor([self.row[c] for c in caps])
        return self.ctx[r], self.pooled[r]


def student_optimizer(student: Stage2, lr: float) -> torch.optim.AdamW:
    """AdamW on the student's denoiser as stage 2 runs it (β 0.9/0.99, weight decay 0.01 on matrices)."""
    decay = [p for p in student.dit.parameters() if p.ndim >= 2]
    no_decay = [p for p in student.dit.parameters() if p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.99))


class StudentTraining:
    """The student's optimizer, EMA and random streams (numpy for picks, torch for noise), at `step`;
    resumed from `path` with `resume`, and saved there every `checkpoint_s` seconds."""

    def __init__(self, student: Stage2, path: str, lr: float, ema: float, seed: int, resume: bool, checkpoint_s: float):
        self.student, self.path, self.checkpoint_s = student, path, checkpoint_s
        self.opt = student_optimizer(student, lr)
        self.ema = C.Ema(student, ema)
        self.rng, self.gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
        self.step = resume_student(path, student, self.opt, self.ema, self.rng, self.gen) if resume else 0
        self.saved_at = self.started = time.time()
        self.terms: dict[str, float] = {}
        self.terms_n = 0

    @property
    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def schedule(self, total: int, base: float, warmup: int) -> None:
        for g in self.opt.param_groups:
            g["lr"] = lr_at(self.step, total, base, warmup)

    def update(self, loss: torch.Tensor) -> None:
        """One optimizer step on `loss` (gradients clipped at 1), the EMA (warming up) after it."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.student.dit.parameters(), 1.0)
        self.opt.step()
        self.ema.update(self.student, min(self.ema.decay, (1 + self.step) / (10 + self.step)))
        self.step += 1

    def record(self, terms: dict[str, float], total: int, log: str, keep: set[int], keep_name: str) -> None:
        """After `update`: the loss terms averaged into the log every 10 steps, the checkpoint, and the
        EMA kept as `<keep_name>_<step>.pt` at the steps in `keep`."""
        for name, value in terms.items():
            self.terms[name] = self.terms.get(name, 0.0) + value
        self.terms_n += 1
        if self.step % 10 == 0 or self.step == total:
            C.log_line(log, f"step {self.step} " + " ".join(f"{name} {value / self.terms_n:.4f}" for name, value in self.terms.items())
                       + f" lr {self.lr:.2e} elapsed {time.time() - self.started:.0f}s")
            self.terms, self.terms_n = {}, 0
        self.checkpoint(now=self.step == total or self.step in keep)
        if self.step in keep:
            C.save_atomic({"ema": self.ema.shadow, "step": self.step}, os.path.join(C.CACHE, f"{keep_name}_{self.step:05d}.pt"))

    def checkpoint(self, now: bool = False) -> None:
        """Saves when `checkpoint_s` has passed since the last save, or `now`."""
        if now or time.time() - self.saved_at > self.checkpoint_s:
            save_student(self.path, self.student, self.opt, self.ema, self.step, self.rng, self.gen)
            self.saved_at = time.time()


def stage2_rows(student: Stage2, conds: Conditioning, latents: torch.Tensor, captions: list[list[str]], n: int,
                rng: np.random.Generator, gen: torch.Generator, dropout: float) -> torch.Tensor:
    """Stage 2's own loss on n cached scenes with fresh noise, captions as stage 2 draws them (the
    empty prompt at `dropout`): what keeps a student a flow model, its empty-prompt branch included."""
    pick = rng.integers(latents.shape[0], size=n)
    x0 = latents[torch.from_numpy(pick)].float()
    ctx, pooled = conds(["" if rng.random() < dropout else C.pick_caption(rng, captions[i]) for i in pick])
    t = logit_normal(n, gen)
    return velocity_error(student, x0, t, torch.randn(x0.shape, generator=gen), ctx, pooled).mean()


def save_student(path: str, student: Stage2, opt, ema: C.Ema, step: int, rng: np.random.Generator,
                 gen: torch.Generator | None = None) -> None:
    state = {"model": student.state_dict(), "opt": opt.state_dict(), "ema": ema.shadow, "step": step,
             "rng": rng.bit_generator.state}
    if gen is not None:
        state["gen"] = gen.get_state()
    C.save_atomic(state, path)


def resume_student(path: str, student: Stage2, opt, ema: C.Ema, rng: np.random.Generator,
                   gen: torch.Generator | None = None) -> int:
    """Restores what save_student wrote, if the file exists; the step to go on from (0 if not)."""
    if not os.path.exists(path):
        return 0
    ck = torch.load(path)
    student.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    ema.shadow = ck["ema"]
    rng.bit_generator.state = ck["rng"]
    if gen is not None:
        gen.set_state(ck["gen"])
    return ck["step"]
