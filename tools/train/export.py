"""Trained checkpoint (EMA weights) → one SD3 single-file safetensors (f32), plus the facts the
manifest records (VAE scale/shift, CLIP heads, defaults, preview factors).

  python3 tools/train/export.py [--checkpoint ~/.cache/mmdit-train/dit.pt] [--out ~/.cache/mmdit-train/export]

Layout (what src/models/*/keys.ts read):
  model.diffusion_model.*                                 the MM-DiT, original SD3 names
  text_encoders.clip_l.transformer.text_model.*          CLIP-L (full 49408-row token table)
  text_encoders.clip_g.transformer.{text_model.*, text_projection.weight}
  first_stage_model.{encoder,decoder}.*                   the VAE, original names
Token-table rows of ids the world never produces are exactly zero.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from models import ClipText  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402


def clip_tensors(enc: ClipText, state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        if k == "text_model.embeddings.token_embedding.weight":
            full = torch.zeros(ClipText.VOCAB, v.shape[1], dtype=torch.float32)
            full[torch.tensor(enc.used_ids)] = v.float()
            v = full
        out[prefix + k] = v.float()
    return out


def vae_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"first_stage_model." + k: v.float() for k, v in state.items()}


def dit_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"model.diffusion_model." + k: v.float() for k, v in state.items()}


def sub_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def single_file(clip_l: ClipText, clip_g: ClipText, stage2_state: dict, vae_state: dict) -> dict[str, torch.Tensor]:
    t = {}
    t.update(dit_tensors(sub_state(stage2_state, "dit.")))
    t.update(clip_tensors(clip_l, sub_state(stage2_state, "clip_l."), "text_encoders.clip_l.transformer."))
    t.update(clip_tensors(clip_g, sub_state(stage2_state, "clip_g."), "text_encoders.clip_g.transformer."))
    t.update(vae_tensors(vae_state))
    return t


COMPONENT_PREFIXES = {
    "mmdit": "model.diffusion_model.",
    "clip_l": "text_encoders.clip_l.",
    "clip_g": "text_encoders.clip_g.",
    "vae": "first_stage_model.",
}


def source_manifest(tensors: dict[str, torch.Tensor], out_dir: str, model: str, vae_stats: dict) -> str:
    """An f32 model folder (docs/weights-manifest.md) holding the checkpoint's own names, with what
    the shapes cannot tell in each component's config: the CLIP head count of a non-release width
    and the VAE's latent scale and shift. `npm run convert` reads it like any converted model and
    derives the final configuration from these records."""
    import hashlib
    import json

    os.makedirs(out_dir, exist_ok=True)
    configs = {
        "mmdit": {},
        "clip_l": {"heads": C.CLIP_HEADS},
        "clip_g": {"heads": C.CLIP_HEADS},
        "vae": {"scale": vae_stats["scale"], "shift": vae_stats["shift"]},
    }
    components = {}
    for comp, prefix in COMPONENT_PREFIXES.items():
        names = sorted(n for n in tensors if n.startswith(prefix))
        blob = bytearray()
        entries = {}
        for n in names:
            data = tensors[n].detach().float().contiguous().numpy().astype("<f4").tobytes()
            blob += b"\0" * ((-len(blob)) % 256)
            entries[n] = {"offset": len(blob), "bytes": len(data), "shape": list(tensors[n].shape), "format": "f32"}
            blob += data
        file = f"{comp}-00000.bin"
        with open(os.path.join(out_dir, file), "wb") as f:
            f.write(blob)
        components[comp] = {"config": configs[comp],
                            "shards": [{"file": file, "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}],
                            "tensors": entries}
    manifest = {"format": "mmdit-webgpu.weights/1", "model": model, "variant": "f32",
                "tokenizers": {}, "components": components}
    path = os.path.join(out_dir, "manifest.json")
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1)
    return path


def finish(model_dir: str, steps: int, guidance: float, shift: float) -> None:
    """Adds what the pipeline reads beyond the weights to a converted model folder: the defaults,
    the latent-preview factors, T5's absence, and one copy of the CLIP tokenizer files shared by
    both encoders (they are the same vocabulary)."""
    import json
    import shutil

    path = os.path.join(model_dir, "manifest.json")
    with open(path) as f:
        m = json.load(f)
    stats = C.load_json(os.path.join(C.CACHE, "vae_stats.json"))
    m["defaults"] = {"width": 64, "height": 64, "steps": steps, "guidanceScale": guidance, "shift": shift}
    m["preview"] = {"factors": stats["preview"]["factors"], "bias": stats["preview"]["bias"]}
    m["textEncoders"] = {"t5": None, "t5Rows": 77}
    tok_dir = os.path.join(model_dir, "tokenizers")
    shared = os.path.join(tok_dir, "clip")
    os.makedirs(shared, exist_ok=True)
    for role, file in (("vocab", "vocab.json"), ("merges", "merges.txt")):
        src = os.path.join(tok_dir, "clip_l", file)
        if os.path.exists(src):
            shutil.move(src, os.path.join(shared, file))
        for comp in ("clip_l", "clip_g"):
            m.setdefault("tokenizers", {}).setdefault(comp, {})[role] = f"tokenizers/clip/{file}"
    for comp in ("clip_l", "clip_g"):
        shutil.rmtree(os.path.join(tok_dir, comp), ignore_errors=True)
    # Key order: the facts a reader looks for first, then the components.
    order = ["format", "model", "kind", "variant", "license", "defaults", "preview", "textEncoders", "tokenizers", "quantization", "components"]
    m = {k: m[k] for k in order if k in m} | {k: v for k, v in m.items() if k not in order}
    with open(path, "w") as f:
        json.dump(m, f, indent=1)
        f.write("\n")
    print(f"finished {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=os.path.join(C.CACHE, "dit.pt"))
    ap.add_argument("--vae", default=os.path.join(C.CACHE, "vae.pt"))
    ap.add_argument("--out", default=os.path.join(C.CACHE, "export"))
    ap.add_argument("--model", default="mmdit-tiny")
    ap.add_argument("--random", action="store_true", help="random weights of the chosen sizes (for timing)")
    ap.add_argument("--finish", metavar="MODEL_DIR", help="add defaults, previews, T5 absence, shared tokenizers to a converted folder")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--shift", type=float, default=C.SHIFT)
    a = ap.parse_args()
    if a.finish:
        finish(a.finish, a.steps, a.guidance, a.shift)
        return
    from train import Stage2, make_vae
    torch.manual_seed(0)
    model = Stage2()
    vae = make_vae()
    if a.random:
        for p in model.parameters():
            if p.requires_grad:
                torch.nn.init.normal_(p, std=0.05)
        s2, vs = model.state_dict(), vae.state_dict()
        stats = {"scale": 1.0, "shift": 0.0}
    else:
        ck = torch.load(a.checkpoint)
        # training checkpoints hold "ema"; `restore`'s dit_init.pt holds "model"; a bare state dict neither
        s2 = ck.get("ema", ck.get("model", ck))
        missing = sorted(k for k in model.state_dict() if k.startswith(("dit.", "clip_l.", "clip_g.")) and k not in s2)
        if missing:
            raise SystemExit(f"{a.checkpoint}: no text encoder / MM-DiT state ({len(missing)} tensors missing, e.g. {missing[0]})")
        vs = torch.load(a.vae)["ema"]
        stats = C.load_json(os.path.join(C.CACHE, "vae_stats.json"))
        print(f"checkpoint {a.checkpoint}: step {ck.get('step')}")
    os.makedirs(a.out, exist_ok=True)
    tensors = single_file(model.clip_l, model.clip_g, s2, vs)
    path = os.path.join(a.out, f"{a.model}.safetensors")
    write_safetensors(path, tensors)
    print(f"wrote {path}")
    src = source_manifest(tensors, os.path.join(a.out, "source"), a.model, stats)
    print(f"wrote {src}")
    print(f"convert: npm run convert -- {src} --quant f16 --model {a.model} --tokenizers ../shared/tokenizers --out demo/public/models/{a.model}")
    print(f"then:    python3 tools/train/export.py --finish demo/public/models/{a.model} --steps {a.steps} --guidance {a.guidance} --shift {a.shift}")


if __name__ == "__main__":
    main()
