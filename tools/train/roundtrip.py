"""VAE round trips of ground-truth scenes, for the detector's round-trip score.

  npx vite-node tools/world/roundtrip.ts -- write --out <scenes> [--count 600]
  python3 tools/train/roundtrip.py --scenes <scenes> --out <decoded> [--vae ~/.cache/mmdit-train/vae.pt]
  npx vite-node tools/world/roundtrip.ts -- score --scenes <scenes> --images <decoded>

Each <id>.json scene is rendered with world.py (bit-identical to the TypeScript renderer), encoded
to the latent mean, decoded, converted to bytes as the reference does, and written as <id>.png.
Prints the PSNR over all pictures.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from models import image_to_tensor, tensor_to_image  # noqa: E402
from pngio import write_png  # noqa: E402
from train import make_vae  # noqa: E402
from world import render  # noqa: E402


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--vae", default=os.path.join(C.CACHE, "vae.pt"))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    vae = make_vae()
    vae.load_state_dict(torch.load(a.vae)["ema"])
    vae.eval()
    os.makedirs(a.out, exist_ok=True)
    ids = sorted(f[:-5] for f in os.listdir(a.scenes) if f.endswith(".json"))
    se, n = 0.0, 0
    for i in range(0, len(ids), 64):
        chunk = ids[i:i + 64]
        imgs = np.stack([render(json.load(open(os.path.join(a.scenes, f"{k}.json")))) for k in chunk])
        mean, _ = vae.encoder(image_to_tensor(torch.from_numpy(imgs)))
        out = tensor_to_image(vae.decoder(mean)).numpy()
        se += ((out.astype(np.float64) - imgs) ** 2).sum()
        n += out.size
        for k, im in zip(chunk, out):
            write_png(os.path.join(a.out, f"{k}.png"), im)
    print(f"{len(ids)} round trips, PSNR {10 * math.log10(255 ** 2 / (se / n)):.2f} dB")


if __name__ == "__main__":
    main()
