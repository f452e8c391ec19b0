"""Reference vectors of the bundled model, computed in PyTorch (float64) from its STORED weights.

  python3 tools/train/vectors.py [--model demo/public/models/mmdit-tiny] [--out tests/vectors/mmdit-tiny]
  npm run verify -- tests/vectors/mmdit-tiny --weights demo/public/models/mmdit-tiny/manifest.json

The converted model folder is read back (f16 / f32 / q8 tensors decoded exactly as stored, canonical
names and layouts mapped back to the SD3 single-file ones), so the references describe the model a
user runs. The cases run on that folder itself (verify's --weights), so no copy of the weights
is kept with the vectors, and index.json follows the shared vector format
(../shared/vectors, ../shared/vectors/text_vae). Cases: both CLIP encoders on the world's captions
(token ids included), the conditioning, a CFG forward at several timesteps, a guided sampling run
from given noise, a VAE decode of its result and a VAE encode of a ground-truth render.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common as C  # noqa: E402
from models import VAE, image_to_tensor, tensor_to_image, conditioning  # noqa: E402
from train import Stage2, make_vae  # noqa: E402
from world import render, sample_training_scene  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

PROMPTS = [
    "a photo of a purple triangle and a white circle",
    "a photo of a square left of a triangle",
    "a photo of four crosses",
    "",
]


# ----------------------------------------------------------------------------------------------
# Reading the converted model back


def read_component(model_dir: str, comp: dict) -> dict[str, tuple[np.ndarray, str]]:
    """Canonical name → (float64 values in the stored layout, stored format)."""
    stream = b"".join(open(os.path.join(model_dir, s["file"]), "rb").read() for s in comp["shards"])
    for s in comp["shards"]:
        data = open(os.path.join(model_dir, s["file"]), "rb").read()
        if hashlib.sha256(data).hexdigest() != s["sha256"]:
            raise SystemExit(f"{s['file']}: SHA-256 differs from the manifest")
    out = {}
    for name, t in comp["tensors"].items():
        if "parts" in t:
            raise SystemExit(f"{name}: row parts are not expected at this size")
        raw = stream[t["offset"]:t["offset"] + t["bytes"]]
        shape, fmt = t["shape"], t["format"]
        if fmt == "f32":
            v = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif fmt == "f16":
            v = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif fmt == "q8":
            rows = int(np.prod(shape[:-1]))
            q = np.frombuffer(raw, dtype=np.int8).astype(np.float64).reshape(rows, -1)
            sc = t["scales"]
            scales = np.frombuffer(stream[sc["offset"]:sc["offset"] + sc["bytes"]], dtype="<f4").astype(np.float64)
            v = q * scales[:, None]
        else:
            raise SystemExit(f"{name}: format {fmt} is not handled here")
        out[name] = (v.reshape(shape), fmt)
    return out


def to_original(component: str, canonical: dict[str, tuple[np.ndarray, str]]) -> dict[str, tuple[np.ndarray, str]]:
    """Canonical names/layouts (src/models/*/keys.ts) → the single-file names/layouts."""
    out: dict[str, tuple[np.ndarray, str]] = {}
    if component == "mmdit":
        for n, (v, f) in canonical.items():
            if n.endswith(".ln_qk.weight"):
                base, half = n[: -len(".ln_qk.weight")], v.shape[0] // 2  # ln_q ‖ ln_k, one head each
                out[f"model.diffusion_model.{base}.ln_q.weight"] = (v[:half], f)
                out[f"model.diffusion_model.{base}.ln_k.weight"] = (v[half:], f)
            else:
                out[f"model.diffusion_model.{n}"] = (v, f)
    elif component in ("clip_l", "clip_g"):
        p = f"text_encoders.{component}.transformer."
        for n, (v, f) in canonical.items():
            if n in ("token_embedding.weight", "position_embedding.weight"):
                out[f"{p}text_model.embeddings.{n}"] = (v, f)
            elif n.startswith("final_layer_norm."):
                out[f"{p}text_model.{n}"] = (v, f)
            elif n == "text_projection.weight":
                out[f"{p}{n}"] = (v, f)
            else:
                i, rest = n.split(".", 2)[1], n.split(".", 2)[2]
                lp = f"{p}text_model.encoder.layers.{i}."
                if rest.startswith("attn.qkv."):
                    for j, x in enumerate("qkv"):
                        d = v.shape[0] // 3
                        out[f"{lp}self_attn.{x}_proj.{rest.split('.')[-1]}"] = (v[j * d:(j + 1) * d], f)
                elif rest.startswith("attn.out."):
                    out[f"{lp}self_attn.out_proj.{rest.split('.')[-1]}"] = (v, f)
                else:
                    out[f"{lp}{rest}"] = (v, f)
    elif component == "vae":
        for n, (v, f) in canonical.items():
            key = f"first_stage_model.{n}"
            if v.ndim == 4:
                v = v.transpose(0, 3, 1, 2)  # [out, kh, kw, in] → [out, in, kh, kw]
            if n.endswith("mid.attn_1.qkv.weight") or n.endswith("mid.attn_1.qkv.bias"):
                d = v.shape[0] // 3
                for j, x in enumerate("qkv"):
                    out[key.replace(".qkv.", f".{x}.")] = (v[j * d:(j + 1) * d], f)
                continue
            out[key] = (v, f)
    return out


def stored_weights(model_dir: str) -> tuple[dict, dict[str, tuple[np.ndarray, str]]]:
    with open(os.path.join(model_dir, "manifest.json")) as f:
        manifest = json.load(f)
    weights: dict[str, tuple[np.ndarray, str]] = {}
    for comp in ("mmdit", "clip_l", "clip_g", "vae"):
        weights.update(to_original(comp, read_component(model_dir, manifest["components"][comp])))
    return manifest, weights


def training_key(name: str) -> tuple[str, str]:
    """A single-file tensor name → which training module holds it ("stage2" or "vae") and its key there."""
    if name.startswith("model.diffusion_model."):
        return "stage2", "dit." + name[len("model.diffusion_model."):]
    if name.startswith("text_encoders."):
        comp = name.split(".")[1]
        return "stage2", f"{comp}." + name[len(f"text_encoders.{comp}.transformer."):]
    return "vae", name[len("first_stage_model."):]


def load_models(weights: dict[str, tuple[np.ndarray, str]], reference: dict[str, torch.Tensor]):
    """PyTorch modules in float64 holding the stored values; shapes and names checked against the
    trained export (`reference`), whose values must agree to the storage format's precision."""
    s2 = Stage2().double()
    vae = make_vae().double()
    used = torch.tensor(s2.clip_l.used_ids)
    missing = set(reference) ^ set(weights)
    if missing:
        raise SystemExit(f"names differ between the export and the stored model: {sorted(missing)[:5]}")
    state2, state_v = {}, {}
    for name, (v, fmt) in weights.items():
        t = torch.from_numpy(np.ascontiguousarray(v))
        ref = reference[name].double()
        if ref.shape != t.shape:
            # Padded input channels (conv_in of 3 colours read as 4) are zeros past the original's.
            if t.ndim == 4 and t.shape[1] > ref.shape[1]:
                if t[:, ref.shape[1]:].abs().max() != 0:
                    raise SystemExit(f"{name}: padding channels are not zero")
                t = t[:, : ref.shape[1]].contiguous()
            else:
                raise SystemExit(f"{name}: stored shape {tuple(t.shape)} vs export {tuple(ref.shape)}")
        tol = {"f32": 0.0, "f16": 2.0 ** -11, "q8": 1.0 / 127}[fmt]
        err = (t - ref).abs().max().item()
        if err > tol * max(1.0, ref.abs().max().item()) + 1e-12:
            raise SystemExit(f"{name}: stored values differ from the export by {err:.3g} ({fmt})")
        weights[name] = (t.numpy(), fmt)
        part, key = training_key(name)
        if key.endswith("text_model.embeddings.token_embedding.weight"):
            keep = torch.zeros(t.shape[0], dtype=torch.bool)
            keep[used] = True
            if t[~keep].abs().max() != 0:
                raise SystemExit(f"{name}: rows of ids the world never uses must be zero")
            t = t[used]
        (state2 if part == "stage2" else state_v)[key] = t
    s2.load_state_dict(state2)
    vae.load_state_dict(state_v)
    return s2.eval(), vae.eval()


# ----------------------------------------------------------------------------------------------
# Writing vectors


class Writer:
    def __init__(self, out: str):
        self.out = out

    def tensor(self, rel: str, x, dtype: str = "float32", max_abs: float | None = None) -> dict:
        arr = np.asarray(x.detach().numpy() if torch.is_tensor(x) else x)
        np_dtype = {"float32": "<f4", "int32": "<i4", "uint8": "u1"}[dtype]
        path = os.path.join(self.out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(np.ascontiguousarray(arr.astype(np_dtype)).tobytes())
        entry = {"file": rel, "shape": list(arr.shape), "dtype": dtype}
        if max_abs is not None:
            entry["maxAbs"] = max_abs
        return entry


def sigmas(steps: int, shift: float) -> list[float]:
    """MODEL_SPEC §4 in float64: τ_k = linspace(1000, 1000·σ(1), steps), σ_k = σ(τ_k), then 0."""
    sig = lambda tau: shift * (tau / 1000) / (1 + (shift - 1) * (tau / 1000))
    if steps == 1:
        taus = [1000.0]
    else:
        end = 1000 * sig(1.0)
        taus = [1000 + (end - 1000) * k / (steps - 1) for k in range(steps)]
    return [sig(t) for t in taus] + [0.0]


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "demo", "public", "models", "mmdit-tiny"))
    ap.add_argument("--export", default=os.path.join(C.CACHE, "export", "mmdit-tiny.safetensors"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "vectors", "mmdit-tiny"))
    ap.add_argument("--seed", type=int, default=2026)
    a = ap.parse_args()
    from safetensors_io import read_safetensors
    manifest, weights = stored_weights(a.model)
    s2, vae = load_models(weights, read_safetensors(a.export))
    defaults = manifest.get("defaults", {})
    steps = int(defaults.get("steps", 10))
    guidance = float(defaults.get("guidanceScale", 4.0))
    shift = float(defaults.get("shift", C.SHIFT))
    vcfg = manifest["components"]["vae"]["config"]
    scale_f, shift_f = float(vcfg["scale"]), float(vcfg["shift"])
    if os.path.isdir(a.out):
        shutil.rmtree(a.out)
    os.makedirs(a.out)
    w = Writer(a.out)
    # No copy of the weights: the cases run on the model folder itself (`npm run verify --
    # tests/vectors/mmdit-tiny --weights demo/public/models/mmdit-tiny/manifest.json`), so the
    # references are checked against exactly what users load. `weights.safetensors` in the index
    # names the weights slot of each case; a run without --weights reports that file missing.
    ids = C.CaptionIds()
    l_ids, g_ids = ids(PROMPTS)
    B = len(PROMPTS)
    cases = []
    tok = {"tokens_l": w.tensor("text/tokens_l.bin", l_ids, "int32"), "tokens_g": w.tensor("text/tokens_g.bin", g_ids, "int32")}
    enc = {}
    for kind, model, tokens in (("clip_l", s2.clip_l, l_ids), ("clip_g", s2.clip_g, g_ids)):
        e = model.text_model.embeddings
        rows = model.lookup[tokens]
        x = e.token_embedding(rows) + e.position_embedding.weight[None]
        inter = {"embeddings": w.tensor(f"{kind}/int/embeddings.bin", x)}
        for i, layer in enumerate(model.text_model.encoder.layers):
            x = layer(x, model.mask.double())
            inter[f"layer_{i}"] = w.tensor(f"{kind}/int/layer_{i}.bin", x)
        seq, pooled = model(tokens)
        last = model.text_model.final_layer_norm(x)
        eot = tokens.argmax(-1)
        outputs = {"seq": w.tensor(f"{kind}/seq.bin", seq), "pooled": w.tensor(f"{kind}/pooled.bin", pooled),
                   "last_hidden": w.tensor(f"{kind}/last_hidden.bin", last),
                   "eot_index": w.tensor(f"{kind}/eot_index.bin", eot, "int32", 0)}
        if kind == "clip_g":
            outputs["pooled_unprojected"] = w.tensor(f"{kind}/pooled_unprojected.bin", last[torch.arange(B), eot])
        enc[kind] = (seq, pooled)
        cases.append({"name": f"{kind}/world_prompts", "kind": kind, "config": f"{kind}_tiny", "weights": "weights.safetensors",
                      "inputs": {"tokens": tok["tokens_l" if kind == "clip_l" else "tokens_g"]}, "outputs": outputs,
                      "intermediates": inter, "params": {"prompts": PROMPTS}, "tolerance": {"maxAbs": 5e-5}})
    (ls, lp), (gs, gp) = enc["clip_l"], enc["clip_g"]
    context, pooled = conditioning(ls, gs, lp, gp, C.CONTEXT_DIM, 77)
    cases.append({"name": "cond/world_prompts", "kind": "conditioning", "config": "cond_tiny", "weights": None,
                  "inputs": {"l_seq": cases[0]["outputs"]["seq"], "g_seq": cases[1]["outputs"]["seq"],
                             "l_pooled": cases[0]["outputs"]["pooled"], "g_pooled": cases[1]["outputs"]["pooled"]},
                  "outputs": {"context": w.tensor("cond/context.bin", context), "pooled": w.tensor("cond/pooled.bin", pooled)},
                  "tolerance": {"maxAbs": 0}})
    gen = torch.Generator().manual_seed(a.seed)
    # CFG forward (prompt 0, then the empty prompt) at several timesteps; the cases share the context.
    uncond = 3
    pair = [0, uncond]
    ctx_e, y_e = w.tensor("forward/context.bin", context[pair]), w.tensor("forward/y.bin", pooled[pair])
    for tv in (1000.0, 640.0, 85.0):
        x = torch.randn(1, 16, 8, 8, generator=gen, dtype=torch.float64)
        xx = torch.cat([x, x])
        t = torch.tensor([tv, tv], dtype=torch.float64)
        out = s2.dit(xx, t, context[pair], pooled[pair])
        d = f"forward/t{tv:g}"
        cases.append({"name": f"mmdit/forward_cfg_t{tv:g}", "kind": "forward", "config": "mmdit_tiny", "weights": "weights.safetensors",
                      "inputs": {"x": w.tensor(f"{d}/x.bin", xx), "t": w.tensor(f"{d}/t.bin", t), "context": ctx_e, "y": y_e},
                      "outputs": {"out": w.tensor(f"{d}/out.bin", out)}, "tolerance": {"maxAbs": 1e-4}})
    # Sampling from given noise with the model's defaults (Euler, MODEL_SPEC §4). A model whose
    # default is unguided (guidance 1: the engine runs the conditional rows alone) also gets a
    # guided run, so that both of the sampler's paths are pinned to the reference.
    sig = sigmas(steps, shift)
    noise = torch.randn(1, 16, 8, 8, generator=gen, dtype=torch.float64)
    vae_in, final_ref = None, None
    for g in [guidance] + ([4.0] if guidance == 1 else []):
        lat = sig[0] * noise
        inter = {}
        d = "sample" if g == guidance else f"sample_cfg{g:g}"
        for k in range(steps):
            v = s2.dit(torch.cat([lat, lat]), torch.tensor([1000 * sig[k]] * 2, dtype=torch.float64),
                       context[[0, uncond]], pooled[[0, uncond]])
            v_cfg = v[:1] if g == 1 else v[1:] + (v[:1] - v[1:]) * g
            lat = lat + v_cfg * (sig[k + 1] - sig[k])
            inter[f"latent_step{k + 1}"] = w.tensor(f"{d}/int/latent_step{k + 1}.bin", lat)
        lat_in = lat / scale_f + shift_f
        final = w.tensor(f"{d}/final.bin", lat)
        if vae_in is None:
            vae_in, final_ref = lat_in, final
        cases.append({"name": f"mmdit/sample_euler_{steps}steps_cfg{g:g}_shift{shift:g}", "kind": "sampling", "config": "mmdit_tiny",
                      "weights": "weights.safetensors",
                      "inputs": {"noise": w.tensor(f"{d}/noise.bin", noise),
                                 "cond_context": w.tensor(f"{d}/cond_context.bin", context[:1]), "cond_y": w.tensor(f"{d}/cond_y.bin", pooled[:1]),
                                 "uncond_context": w.tensor(f"{d}/uncond_context.bin", context[uncond:uncond + 1]),
                                 "uncond_y": w.tensor(f"{d}/uncond_y.bin", pooled[uncond:uncond + 1])},
                      "outputs": {"final": final, "final_vae_in": w.tensor(f"{d}/final_vae_in.bin", lat_in)},
                      "intermediates": inter,
                      "params": {"sampler": "euler", "steps": steps, "cfg_scale": g, "shift": shift, "sigmas": sig,
                                 "timesteps": [1000 * s for s in sig[:-1]], "batch_order": ["cond", "uncond"], "x0": "sigmas[0] * noise",
                                 "prompt": PROMPTS[0], "negative_prompt": PROMPTS[uncond],
                                 "latent_format": {"scale_factor": scale_f, "shift_factor": shift_f, "final_vae_in": "final / scale_factor + shift_factor"}},
                      "tolerance": {"maxAbs": 5e-4, "intermediatesMaxAbs": 5e-4}})
    # VAE decode of the sampled latent (denoiser space) and encode of a ground-truth render.
    img = vae.decoder(vae_in)
    cases.append({"name": "vae/decode_sampled", "kind": "vae_decode", "config": "vae_tiny", "weights": "weights.safetensors",
                  "inputs": {"latent": final_ref},
                  "outputs": {"image": w.tensor("vae/decode/image.bin", img),
                              "image_u8": w.tensor("vae/decode/image_u8.bin", tensor_to_image(img), "uint8", 1)},
                  "tolerance": {"maxAbs": 1e-4}})
    scene, cap = sample_training_scene(np.random.default_rng(a.seed), "color_attr")
    u8 = torch.from_numpy(render(scene))[None]
    mean, logvar = vae.encoder(image_to_tensor(u8).double())
    cases.append({"name": "vae/encode_render", "kind": "vae_encode", "config": "vae_tiny", "weights": "weights.safetensors",
                  "inputs": {"image_u8": w.tensor("vae/encode/image_u8.bin", u8, "uint8"), "image": w.tensor("vae/encode/image.bin", image_to_tensor(u8))},
                  "outputs": {"mean": w.tensor("vae/encode/mean.bin", mean), "logvar": w.tensor("vae/encode/logvar.bin", logvar),
                              "latent": w.tensor("vae/encode/latent.bin", (mean - shift_f) * scale_f)},
                  "params": {"scene": scene, "caption": cap}, "tolerance": {"maxAbs": 1e-4}})
    mm = manifest["components"]["mmdit"]["config"]
    clip_cfg = lambda model, act, proj, width: {
        "arch": "clip_text", "model": model, "vocab_size": 49408, "max_positions": 77, "hidden_size": width,
        "num_heads": C.CLIP_HEADS, "head_dim": width // C.CLIP_HEADS, "num_layers": C.CLIP_LAYERS,
        "intermediate_size": width * C.CLIP_MLP_RATIO, "activation": act, "layer_norm_eps": 1e-5,
        "sd3_pooled_projected": proj, "bos": 49406, "eos": 49407, "pad": 49407 if model == "clip_l" else 0, "layout": "reference"}
    index = {
        "version": 1,
        "description": "The bundled model mmdit-tiny (demo/public/models/mmdit-tiny): PyTorch float64 references from its stored "
                       "weights; the cases run on the model folder itself (verify --weights demo/public/models/mmdit-tiny/manifest.json), "
                       "no copy of the weights is kept here; see tools/train/vectors.py",
        "configs": {
            "clip_l_tiny": clip_cfg("clip_l", "quick_gelu", False, C.CLIP_L_WIDTH),
            "clip_g_tiny": clip_cfg("clip_g", "gelu", True, C.CLIP_G_WIDTH),
            "cond_tiny": {"arch": "sd3_conditioning", "clip_l_width": C.CLIP_L_WIDTH, "clip_g_width": C.CLIP_G_WIDTH,
                          "context_dim": C.CONTEXT_DIM, "t5_absent_rows": 77, "layout": "reference"},
            "mmdit_tiny": {"depth": mm["depth"], "hidden": mm["hidden"], "heads": mm["heads"], "head_dim": mm["headDim"], "patch": mm["patch"],
                           "in_channels": 16, "out_channels": 16, "pos_embed_max_size": mm["posEmbedMaxSize"],
                           "context_dim": mm["contextDim"], "adm_dim": mm["pooledDim"], "qk_norm": "rms" if mm["qkNorm"] else None,
                           "x_block_self_attn_layers": mm["dualAttentionLayers"], "mlp_ratio": mm["mlpHidden"] / mm["hidden"], "layout": "original",
                           "weights": "weights.safetensors", "weights_dtype": "F16"},
            "vae_tiny": {"arch": "sd3_vae", "block_out_channels": list(vcfg["channels"]), "encoder_blocks": vcfg["encoderBlocks"],
                         "decoder_blocks": vcfg["decoderBlocks"], "latent_channels": 16, "in_channels": 3, "out_channels": 3,
                         "norm_num_groups": 32, "norm_eps": 1e-6, "scaling_factor": scale_f, "shift_factor": shift_f,
                         "downsample_factor": 8, "layout": "reference", "key_prefix": "first_stage_model."},
        },
        "cases": cases,
    }
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(a.out) for n in ns)
    print(f"wrote {len(cases)} cases to {a.out} ({total / 2 ** 20:.2f} MiB)")


if __name__ == "__main__":
    main()
