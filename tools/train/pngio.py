"""Minimal PNG writing (zlib only), for sample grids."""
from __future__ import annotations

import struct
import zlib

import numpy as np


def write_png(path: str, rgb: np.ndarray) -> None:
    """uint8 [H, W, 3] → PNG file."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def grid(images: np.ndarray, cols: int, scale: int = 2) -> np.ndarray:
    n, h, w, c = images.shape
    rows = (n + cols - 1) // cols
    out = np.full((rows * (h + 2), cols * (w + 2), c), 255, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        out[r * (h + 2):r * (h + 2) + h, q * (w + 2):q * (w + 2) + w] = images[i]
    return out.repeat(scale, 0).repeat(scale, 1)
