"""safetensors by hand (no Python package exists here): 8-byte LE header length, JSON header, raw LE data."""
from __future__ import annotations

import json
import struct

import numpy as np
import torch

DTYPES = {torch.float32: ("F32", np.float32), torch.float16: ("F16", np.float16), torch.int32: ("I32", np.int32)}
NP = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "BF16": None}


def write_safetensors(path: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    header: dict = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        code, npdt = DTYPES[t.dtype]
        data = t.numpy().astype(npdt, copy=False).astype(np.dtype(npdt).newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path: str) -> dict[str, torch.Tensor]:
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        raw = f.read()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(raw[a:b], dtype=np.dtype(NP[info["dtype"]]).newbyteorder("<")).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("="))).clone()
    return out
