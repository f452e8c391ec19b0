"""Weight averages of stage-2 checkpoints that share one starting point (run 21).

  python3 tools/train/soup.py --out soup.pt A.pt B.pt[@weight] …

Each input is a checkpoint `load_stage2` reads (its EMA where it has one, else its `model`); the
output holds the weighted mean of every tensor as `model`, which `sample.py`, `export.py` and the
tuning tools read like any other checkpoint. Averaging a base model with models tuned from it (or
the tuned models alone) is the model soup / WiSE-FT recipe, which often keeps what each tuning
gained in distribution while losing less out of it; the checkpoints must have the same depth, and
tensors every tuning left alone (the frozen text encoders) come out unchanged.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from train import load_stage2  # noqa: E402


def parse_part(text: str) -> tuple[str, float]:
    path, _, weight = text.partition("@")
    w = float(weight) if weight else 1.0
    if not w > 0:
        raise SystemExit(f"{text}: the weight after @ must be positive")
    return path, w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="+", help="checkpoints, each optionally followed by @weight (default 1)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    parts = [parse_part(p) for p in a.parts]
    states = [load_stage2(path)[0].state_dict() for path, _ in parts]
    keys = set(states[0])
    for (path, _), s in zip(parts, states):
        if set(s) != keys or any(s[k].shape != states[0][k].shape for k in keys):
            raise SystemExit(f"{path}: its tensors differ from {parts[0][0]}'s (another depth or size)")
    total = sum(w for _, w in parts)
    avg = {k: sum(w * s[k].float() for (_, w), s in zip(parts, states)) / total for k in states[0]}
    C.save_atomic({"model": avg, "parts": [f"{p}@{w}" for p, w in parts]}, a.out)
    print(f"{a.out}: the mean of {len(parts)} checkpoints, weights {[w for _, w in parts]}")


if __name__ == "__main__":
    main()
