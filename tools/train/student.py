"""A student denoiser made from a frozen teacher, for distill.py, reflow.py and reward.py: the two
models, the frozen text encoders' conditioning, the student's optimizer and its rows of stage 2's own
loss, and the student's checkpoint (resumable, and read by sample.py and export.py as any stage-2
checkpoint: {"model", "ema", "step"})."""
from __future__ import annotations

import copy
import os

import numpy as np
import torch

import common as C
from train import Stage2, load_stage2, logit_normal, velocity_error
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
