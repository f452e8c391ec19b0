"""SD3's three model families at toy size, in PyTorch, exactly as the engine runs them.

- MMDiT: MODEL_SPEC.md §1–3 (original single-file layout, `model.diffusion_model.*`), QK RMS-norm.
- ClipText: TEXT_VAE_SPEC.md §3 (`text_encoders.clip_{l,g}.transformer.text_model.*`), causal,
  LN eps 1e-5, quick_gelu (L) / erf gelu (G, with `text_projection.weight`).
- Encoder / Decoder: TEXT_VAE_SPEC.md §6 (`first_stage_model.{encoder,decoder}.*`), GroupNorm 32, eps 1e-6.
- conditioning(): TEXT_VAE_SPEC.md §5 with 77 zero T5 rows (the engine's no-T5 convention).

Module attribute names are the checkpoint's key names, so `state_dict()` is the export layout
(export.py adds the prefixes and expands the CLIP token table to the full vocabulary).

Training shortcut (exact): the 77 zero T5 rows of the context are identical at every layer (no
position embedding in the context stream), so attending to 77 copies equals attending to one copy
with a log(77) bias on its logit. `MMDiT.forward(..., t5_rows=1, t5_weight=77)` uses it; the full
154-row context gives the same output (tests in check_models.py).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------
# MM-DiT


def layer_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], eps=eps)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None, :]) + shift[:, None, :]


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


def timestep_frequencies(t: torch.Tensor, dim: int = 256) -> torch.Tensor:
    """[cos(t·f), sin(t·f)], f_j = exp(-ln(10000)·j/128): cos first (MODEL_SPEC §3.3)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    args = t.to(torch.float64)[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1).to(torch.float32)


def sincos_2d(size: int, dim: int) -> torch.Tensor:
    """The fixed 2-D sin-cos table of SD3 (rows of a size×size grid, row-major)."""
    def one(pos: torch.Tensor, d: int) -> torch.Tensor:
        omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=torch.float64) / (d / 2.0))
        out = pos.reshape(-1)[:, None] * omega[None, :]
        return torch.cat([torch.sin(out), torch.cos(out)], dim=1)
    gy, gx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij")
    emb = torch.cat([one(gy, dim // 2), one(gx, dim // 2)], dim=1)
    return emb.to(torch.float32)[None]


class Mlp(nn.Module):
    def __init__(self, hidden: int, inner: int):
        super().__init__()
        self.fc1 = nn.Linear(hidden, inner)
        self.fc2 = nn.Linear(inner, hidden)

    def forward(self, x):
        return self.fc2(gelu_tanh(self.fc1(x)))


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Attn(nn.Module):
    """Fused qkv; `pre_only` (the last context block) has no output projection."""

    def __init__(self, hidden: int, qk_norm: bool, pre_only: bool, head_dim: int = 64):
        super().__init__()
        self.head_dim = head_dim
        self.qkv = nn.Linear(hidden, 3 * hidden)
        if not pre_only:
            self.proj = nn.Linear(hidden, hidden)
        if qk_norm:
            self.ln_q = RMSNorm(head_dim)
            self.ln_k = RMSNorm(head_dim)
        self.qk_norm = qk_norm

    def qkv_heads(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, -1, self.head_dim).unbind(2)  # [b, n, heads, dh]
        if self.qk_norm:
            q, k = self.ln_q(q), self.ln_k(k)
        return q, k, v


class StreamBlock(nn.Module):
    def __init__(self, hidden: int, mlp_hidden: int, qk_norm: bool, pre_only: bool, head_dim: int = 64, dual: bool = False):
        super().__init__()
        self.pre_only, self.dual = pre_only, dual
        self.chunks = 2 if pre_only else 9 if dual else 6
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, self.chunks * hidden))
        self.attn = Attn(hidden, qk_norm, pre_only, head_dim)
        if dual:
            # MMDiT-X (SD3.5-Medium): a second self-attention over the image tokens only.
            self.attn2 = Attn(hidden, qk_norm, False, head_dim)
        if not pre_only:
            self.mlp = Mlp(hidden, mlp_hidden)

    def pre(self, x, c):
        """→ (q, k, v), the modulation chunks, and LN(x), which a dual block's second attention reuses."""
        m = self.adaLN_modulation(c).chunk(self.chunks, dim=-1)
        u = layer_norm(x)
        return self.attn.qkv_heads(modulate(u, m[0], m[1])), m, u

    def post(self, x, o, m, u):
        x = x + m[2][:, None, :] * self.attn.proj(o)
        if self.dual:
            q2, k2, v2 = self.attn2.qkv_heads(modulate(u, m[6], m[7]))
            x = x + m[8][:, None, :] * self.attn2.proj(joint_attention(q2, k2, v2))
        return x + m[5][:, None, :] * self.mlp(modulate(layer_norm(x), m[3], m[4]))


def joint_attention(q, k, v, logit_bias=None):
    """softmax(q·kᵀ/√dh + bias)·v over the concatenated tokens; [b, n, heads, dh] in and out."""
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if logit_bias is not None:
        s = s + logit_bias
    return (s.softmax(-1) @ v).transpose(1, 2).flatten(2)


class JointBlock(nn.Module):
    def __init__(self, hidden: int, mlp_hidden: int, qk_norm: bool, last: bool, head_dim: int = 64, dual: bool = False):
        super().__init__()
        self.context_block = StreamBlock(hidden, mlp_hidden, qk_norm, pre_only=last, head_dim=head_dim)
        self.x_block = StreamBlock(hidden, mlp_hidden, qk_norm, pre_only=False, head_dim=head_dim, dual=dual)

    def forward(self, ctx, x, c, logit_bias):
        (cq, ck, cv), cm, cu = self.context_block.pre(ctx, c)
        (xq, xk, xv), xm, xu = self.x_block.pre(x, c)
        L = ctx.shape[1]
        o = joint_attention(torch.cat([cq, xq], 1), torch.cat([ck, xk], 1), torch.cat([cv, xv], 1), logit_bias)
        x = self.x_block.post(x, o[:, L:], xm, xu)
        ctx = None if self.context_block.pre_only else self.context_block.post(ctx, o[:, :L], cm, cu)
        return ctx, x


class FinalLayer(nn.Module):
    def __init__(self, hidden: int, out: int):
        super().__init__()
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))
        self.linear = nn.Linear(hidden, out)

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(modulate(layer_norm(x), shift, scale))


class Embedder(nn.Module):
    def __init__(self, inp: int, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(inp, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, x):
        return self.mlp(x)


class PatchEmbed(nn.Module):
    def __init__(self, channels: int, hidden: int, patch: int):
        super().__init__()
        self.proj = nn.Conv2d(channels, hidden, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class MMDiT(nn.Module):
    def __init__(self, hidden=64, depth=3, mlp_ratio=4.0, context_dim=64, adm_dim=64, pos_embed_max_size=8,
                 patch=2, channels=16, qk_norm=True, head_dim=64, dual_layers=()):
        super().__init__()
        # SD3's heads are 64 wide; a narrower head is read back from ln_q's length (QK-norm only).
        assert hidden % head_dim == 0 and (head_dim == 64 or qk_norm)
        self.hidden, self.depth, self.patch, self.channels, self.M = hidden, depth, patch, channels, pos_embed_max_size
        self.x_embedder = PatchEmbed(channels, hidden, patch)
        # SD3's fixed sin-cos table; stored in the checkpoint, not trained.
        self.pos_embed = nn.Parameter(sincos_2d(pos_embed_max_size, hidden), requires_grad=False)
        self.t_embedder = Embedder(256, hidden)
        self.y_embedder = Embedder(adm_dim, hidden)
        self.context_embedder = nn.Linear(context_dim, hidden)
        mlp_hidden = int(hidden * mlp_ratio)
        self.joint_blocks = nn.ModuleList([JointBlock(hidden, mlp_hidden, qk_norm, last=(i == depth - 1), head_dim=head_dim, dual=i in dual_layers) for i in range(depth)])
        self.final_layer = FinalLayer(hidden, patch * patch * channels)
        self.init_weights()

    def init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.x_embedder.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        for e in (self.t_embedder, self.y_embedder):
            nn.init.normal_(e.mlp[0].weight, std=0.02)
            nn.init.normal_(e.mlp[2].weight, std=0.02)
        # adaLN-Zero: every block starts as the identity, the output as zero.
        for blk in self.joint_blocks:
            for s in (blk.context_block, blk.x_block):
                nn.init.zeros_(s.adaLN_modulation[1].weight)
                nn.init.zeros_(s.adaLN_modulation[1].bias)
        nn.init.zeros_(self.final_layer.adaLN_modulation[1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def forward(self, x, t, context, y, t5_rows: int | None = None, t5_weight: float = 77.0):
        """x [B,16,H,W], t [B] = 1000·σ, context [B,L,D], y [B,A] → velocity [B,16,H,W].

        With `t5_rows=1` the last context row stands for `t5_weight` identical (zero) rows.
        """
        B, C, Hl, Wl = x.shape
        p, h, w = self.patch, Hl // self.patch, Wl // self.patch
        X = self.x_embedder(x)
        P = self.pos_embed.reshape(self.M, self.M, self.hidden)
        top, left = (self.M - h) // 2, (self.M - w) // 2
        X = X + P[top:top + h, left:left + w].reshape(1, h * w, self.hidden)
        c = self.t_embedder(timestep_frequencies(t).to(X.dtype)) + self.y_embedder(y)
        ctx = self.context_embedder(context)
        bias = None
        if t5_rows is not None:
            L = ctx.shape[1]
            bias = torch.zeros(L + h * w, dtype=X.dtype)
            bias[L - t5_rows:L] = math.log(t5_weight / t5_rows)
        for blk in self.joint_blocks:
            ctx, X = blk(ctx, X, c, bias)
        Z = self.final_layer(X, c)
        Z = Z.reshape(B, h, w, p, p, C).permute(0, 5, 1, 3, 2, 4).reshape(B, C, Hl, Wl)
        return Z


# ----------------------------------------------------------------------------------------------
# CLIP text encoders


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class ClipAttention(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mask):
        b, n, d = x.shape
        sh = lambda t: t.reshape(b, n, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = sh(self.q_proj(x)), sh(self.k_proj(x)), sh(self.v_proj(x))
        s = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads) + mask
        return self.out_proj((s.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d))


class ClipMlp(nn.Module):
    def __init__(self, d: int, m: int, act):
        super().__init__()
        self.fc1 = nn.Linear(d, m)
        self.fc2 = nn.Linear(m, d)
        self.act = act

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class ClipLayer(nn.Module):
    def __init__(self, d: int, heads: int, m: int, act):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(d, eps=1e-5)
        self.self_attn = ClipAttention(d, heads)
        self.layer_norm2 = nn.LayerNorm(d, eps=1e-5)
        self.mlp = ClipMlp(d, m, act)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class ClipEmbeddings(nn.Module):
    def __init__(self, used_ids: list[int], d: int, positions: int):
        super().__init__()
        # Only the ids the world produces get rows while training; export.py scatters them into the
        # full [49408, D] table, whose other rows are exactly zero.
        self.token_embedding = nn.Embedding(len(used_ids), d)
        self.position_embedding = nn.Embedding(positions, d)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.01)


class ClipEncoder(nn.Module):
    def __init__(self, d, heads, m, layers, act):
        super().__init__()
        self.layers = nn.ModuleList([ClipLayer(d, heads, m, act) for _ in range(layers)])


class ClipTextModel(nn.Module):
    def __init__(self, used_ids, d, heads, m, layers, act):
        super().__init__()
        self.embeddings = ClipEmbeddings(used_ids, d, 77)
        self.encoder = ClipEncoder(d, heads, m, layers, act)
        self.final_layer_norm = nn.LayerNorm(d, eps=1e-5)


class ClipText(nn.Module):
    """`kind` 'l' (quick_gelu, pooled unprojected) or 'g' (erf gelu, pooled projected)."""

    VOCAB = 49408

    def __init__(self, kind: str, used_ids: list[int], width=32, heads=1, layers=3, mlp_ratio=4, projection=None):
        super().__init__()
        self.kind, self.width, self.heads, self.layers = kind, width, heads, layers
        act = quick_gelu if kind == "l" else (lambda x: F.gelu(x))
        self.text_model = ClipTextModel(used_ids, width, heads, width * mlp_ratio, layers, act)
        if kind == "g":
            self.text_projection = nn.Linear(width, projection or width, bias=False)
        lookup = torch.full((self.VOCAB,), -1, dtype=torch.long)
        lookup[torch.tensor(used_ids)] = torch.arange(len(used_ids))
        self.register_buffer("lookup", lookup, persistent=False)
        self.used_ids = list(used_ids)
        mask = torch.full((77, 77), float("-inf")).triu(1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, ids: torch.Tensor):
        """ids [B,77] → (seq = output of layer N-2, pooled by SD3's rule)."""
        rows = self.lookup[ids]
        if bool((rows < 0).any()):
            raise ValueError("token id outside the world's vocabulary")
        e = self.text_model.embeddings
        x = e.token_embedding(rows) + e.position_embedding.weight[None, : ids.shape[1]]
        seq = None
        for i, layer in enumerate(self.text_model.encoder.layers):
            x = layer(x, self.mask[: ids.shape[1], : ids.shape[1]])
            if i == self.layers - 2:
                seq = x
        last = self.text_model.final_layer_norm(x)
        eot = ids.argmax(-1)
        pooled = last[torch.arange(ids.shape[0]), eot]
        if self.kind == "g":
            pooled = self.text_projection(pooled)
        return seq, pooled


def conditioning(l_seq, g_seq, l_pooled, g_pooled, context_dim: int, t5_rows: int = 77):
    """context = [L ‖ G ‖ 0…] (77 rows) then t5_rows zero rows; pooled = L ‖ G (TEXT_VAE_SPEC §5)."""
    B, L, dl = l_seq.shape
    lg = torch.cat([l_seq, g_seq], -1)
    lg = F.pad(lg, (0, context_dim - lg.shape[-1]))
    ctx = torch.cat([lg, lg.new_zeros(B, t5_rows, context_dim)], 1)
    return ctx, torch.cat([l_pooled, g_pooled], -1)


# ----------------------------------------------------------------------------------------------
# VAE (SD3 architecture)


def gn(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, c, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1 = gn(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = gn(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)
        self.skip = cin != cout

    def forward(self, x):
        h = self.conv2(F.silu(self.norm2(self.conv1(F.silu(self.norm1(x))))))
        return (self.nin_shortcut(x) if self.skip else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.norm = gn(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        b, c, hh, ww = x.shape
        h = self.norm(x)
        q, k, v = (m(h).reshape(b, c, hh * ww).transpose(1, 2) for m in (self.q, self.k, self.v))
        a = ((q @ k.transpose(1, 2)) / math.sqrt(c)).softmax(-1) @ v
        return x + self.proj_out(a.transpose(1, 2).reshape(b, c, hh, ww))


class Downsample(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Mid(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.block_1 = ResnetBlock(c, c)
        self.attn_1 = AttnBlock(c)
        self.block_2 = ResnetBlock(c, c)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Level(nn.Module):
    pass


class Encoder(nn.Module):
    def __init__(self, channels=(32, 32, 64, 64), blocks=1, latent=16):
        super().__init__()
        self.conv_in = nn.Conv2d(3, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        prev = channels[0]
        for l, ch in enumerate(channels):
            lv = Level()
            lv.block = nn.ModuleList([ResnetBlock(prev if j == 0 else ch, ch) for j in range(blocks)])
            if l != len(channels) - 1:
                lv.downsample = Downsample(ch)
            self.down.append(lv)
            prev = ch
        self.mid = Mid(prev)
        self.norm_out = gn(prev)
        self.conv_out = nn.Conv2d(prev, 2 * latent, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for l, lv in enumerate(self.down):
            for b in lv.block:
                h = b(h)
            if hasattr(lv, "downsample"):
                h = lv.downsample(h)
        h = self.conv_out(F.silu(self.norm_out(self.mid(h))))
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)


class Decoder(nn.Module):
    def __init__(self, channels=(32, 32, 64, 64), blocks=1, latent=16):
        super().__init__()
        top = channels[-1]
        self.conv_in = nn.Conv2d(latent, top, 3, padding=1)
        self.mid = Mid(top)
        self.up = nn.ModuleList([Level() for _ in channels])
        prev = top
        for l in reversed(range(len(channels))):
            ch = channels[l]
            lv = self.up[l]
            lv.block = nn.ModuleList([ResnetBlock(prev if j == 0 else ch, ch) for j in range(blocks)])
            if l != 0:
                lv.upsample = Upsample(ch)
            prev = ch
        self.norm_out = gn(channels[0])
        self.conv_out = nn.Conv2d(channels[0], 3, 3, padding=1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for l in reversed(range(len(self.up))):
            lv = self.up[l]
            for b in lv.block:
                h = b(h)
            if hasattr(lv, "upsample"):
                h = lv.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class VAE(nn.Module):
    def __init__(self, channels=(32, 32, 64, 64), enc_blocks=1, dec_blocks=1):
        super().__init__()
        self.encoder = Encoder(channels, enc_blocks)
        self.decoder = Decoder(channels, dec_blocks)


def image_to_tensor(u8: torch.Tensor) -> torch.Tensor:
    """uint8 [B,H,W,3] → [B,3,H,W] in [-1, 1] (2·u8/255 − 1)."""
    return u8.permute(0, 3, 1, 2).to(torch.float32) * (2.0 / 255.0) - 1.0


def tensor_to_image(x: torch.Tensor) -> torch.Tensor:
    """The reference conversion: trunc(255·clamp((x+1)/2, 0, 1)) → uint8 [B,H,W,3]."""
    y = ((x + 1) / 2).clamp(0, 1)
    return (255 * y).to(torch.uint8).permute(0, 2, 3, 1)


# ----------------------------------------------------------------------------------------------
# Cost estimates (multiply-adds ×2)


def conv_flops(cin, cout, k, pixels):
    return 2 * cin * cout * k * k * pixels


def decoder_flops(channels=(32, 32, 64, 64), blocks=1, size=64, latent=16) -> float:
    L = len(channels)
    res = [size >> l for l in range(L)]
    total = conv_flops(latent, channels[-1], 3, res[-1] ** 2)
    mid = channels[-1]
    total += 4 * conv_flops(mid, mid, 3, res[-1] ** 2) + 4 * 2 * mid * mid * res[-1] ** 2 + 4 * mid * res[-1] ** 4
    prev = mid
    for l in reversed(range(L)):
        ch, px = channels[l], res[l] ** 2
        for j in range(blocks):
            cin = prev if j == 0 else ch
            total += conv_flops(cin, ch, 3, px) + conv_flops(ch, ch, 3, px) + (conv_flops(cin, ch, 1, px) if cin != ch else 0)
        if l != 0:
            total += conv_flops(ch, ch, 3, res[l - 1] ** 2)
        prev = ch
    return total + conv_flops(channels[0], 3, 3, size * size)


def mmdit_flops(hidden, depth, mlp_ratio, rows, image_tokens=16, context_tokens=154, context_dim=64) -> float:
    """Per denoiser call on `rows` batch rows (linears + attention)."""
    H, F_ = hidden, int(hidden * mlp_ratio)
    full = 4 * H * H + 2 * H * F_
    per_block = (image_tokens + context_tokens) * full
    last = image_tokens * full + context_tokens * 3 * H * H
    lin = (depth - 1) * per_block + last + context_tokens * context_dim * H + image_tokens * 64 * H * 2
    attn = depth * 2 * 2 * (image_tokens + context_tokens) ** 2 * H
    return rows * (2 * lin + attn)


def count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
