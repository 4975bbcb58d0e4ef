"""The diffusion transformer over spacetime latent patches.

Each token is conditioned on its own flow time, its clip's frame rate and latent size (one
shared adaLN projection plus a learned table per block, as in PixArt-alpha's adaLN-single, with
zero-initialised gates so every block starts as the identity), attends to the tokens of its own
clip with 3D rotary positions and QK-normalised SDPA, and cross-attends to its own caption's
tokens. Which tokens belong together comes from `TokenBatch.seq`, so the same weights run
bucketed batches and packed sequences (see `sorakit.models.tokens`).

The model knows nothing of distributed training: parallelism is applied from outside
(`sorakit.train.parallel`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sorakit.data.layout import LAYOUT_CHANNELS, LAYOUT_FILLS, layout_channels
from sorakit.models.persist import load_model, save_model
from sorakit.models.tokens import TokenBatch, routed
from sorakit.presets import Presets


@dataclass(frozen=True)
class DiTConfig:
    in_channels: int = 16  # latent channels
    patch_size: tuple[int, int, int] = (1, 2, 2)  # latent (t, h, w) per token
    dim: int = 256
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 4.0
    text_dim: int = 384  # the text encoder's hidden size
    rope_theta: float = 10000.0
    ref_fps: float = 8.0  # temporal rotary positions count latent frames at this frame rate
    layout_channels: int = 0  # > 0: tokens also read a layout map (`sorakit.data.layout`)
    layout_frames: int = 1  # the map's occupancy channels per latent frame (1 or the VAE's tf)
    layout_fill: str = "box"  # what covers a layout cell: an object's "box" or its "shape"
    layout_kind_frames: int = 1  # the map's channels per colour and shape per latent frame
    cond_channels: int = 0  # > 0: a refiner, reading the base's latent (`sorakit.cascade`)
    # True: a flow map, reading each step's size d too and predicting the average velocity over
    # [t - d, t] (a distilled few-step sampler, `sorakit.train.distill`).
    step_input: bool = False

    def __post_init__(self) -> None:
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(f"dim {self.dim} must split into {self.heads} heads of even size")
        if self.layout_fill not in LAYOUT_FILLS:
            raise ValueError(f"layout_fill must be one of {LAYOUT_FILLS}, not {self.layout_fill!r}")
        want = layout_channels(self.layout_frames, self.layout_kind_frames)
        if self.layout_channels and self.layout_channels != want:
            raise ValueError(
                f"a layout with {self.layout_frames} occupancy frames and "
                f"{self.layout_kind_frames} per colour and shape has {want} channels, "
                f"not {self.layout_channels}"
            )

    @property
    def layout_format(self) -> dict:
        """The keyword arguments of `layout_map` that give this transformer's layout maps."""
        return dict(
            frames=self.layout_frames, fill=self.layout_fill, kind_frames=self.layout_kind_frames
        )

    @property
    def patch_volume(self) -> int:
        pt, ph, pw = self.patch_size
        return pt * ph * pw

    @property
    def patch_dim(self) -> int:
        return self.in_channels * self.patch_volume


_LAYOUT_PER_FRAME = DiTConfig(
    dim=192, depth=6, heads=3, layout_channels=layout_channels(4), layout_frames=4
)
_LAYOUT_OUTLINE = replace(_LAYOUT_PER_FRAME, layout_fill="shape")
DIT_PRESETS: Presets[DiTConfig] = Presets(
    {
        # For tests: runs in milliseconds.
        "tiny": DiTConfig(
            in_channels=4, dim=64, depth=2, heads=2, text_dim=384, layout_channels=LAYOUT_CHANNELS
        ),
        # About 4.2M parameters, sized for an hour of training on 2 CPU cores; layout maps
        # average each latent frame's pixel frames.
        "world": DiTConfig(dim=192, depth=6, heads=3, layout_channels=LAYOUT_CHANNELS),
        # "world" with occupancy per pixel frame (4 per latent frame), for a VAE whose latent
        # keeps every frame (`world-per-frame`): a plan then says where a falling ball is on
        # each frame.
        "world-layout-per-frame": _LAYOUT_PER_FRAME,
        # "world-layout-per-frame" with layout cells covered by each object's outline, not its
        # box: the default model's transformer (a small disc's cut corners are in the map, not
        # left to guessing).
        "world-layout-outline": _LAYOUT_OUTLINE,
        # "world-layout-outline" with colour and shape coverage per pixel frame too: the map
        # then holds the cell colours a `world-per-frame` latent carries on each frame, instead
        # of a moving object's colour averaged into a faint streak.
        "world-layout-outline-colour": replace(
            _LAYOUT_OUTLINE, layout_kind_frames=4, layout_channels=layout_channels(4, 4)
        ),
        # The same without layout input (text only): the first stage of the default model's
        # recipe.
        "world-text": DiTConfig(dim=192, depth=6, heads=3),
        # The cascade's spatial and temporal refiners: the world transformer reading the base
        # latent instead of a layout, so they can start from its weights.
        "world-refiner": DiTConfig(dim=192, depth=6, heads=3, cond_channels=16),
        # A refiner that also reads the plan's layout at its own size and frame rate, in the
        # default model's format: where a base output blurs a small shape or an in-between
        # position, the plan still says it.
        "world-refiner-layout": replace(_LAYOUT_OUTLINE, cond_channels=16),
        "tiny-refiner": DiTConfig(in_channels=4, dim=64, depth=2, heads=2, cond_channels=4),
        "tiny-refiner-layout": DiTConfig(
            in_channels=4,
            dim=64,
            depth=2,
            heads=2,
            cond_channels=4,
            layout_channels=layout_channels(4),
            layout_frames=4,
            layout_fill="shape",
        ),
        # GPU sizes (untrained here): about 130M and 1.1B parameters.
        "base": DiTConfig(dim=768, depth=12, heads=12),
        "large": DiTConfig(dim=1536, depth=28, heads=24, text_dim=4096),
    },
    aliases={
        "world-lf": "world-layout-per-frame",
        "world-lfs": "world-layout-outline",
        "world-lfc": "world-layout-outline-colour",
    },
)


# --- embeddings ---
def sinusoidal(x: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """(...,) -> (..., dim) sin/cos features of x at geometric frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=x.device) / half)
    angles = x.float()[..., None] * freqs
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


class ConditionEmbedding(nn.Module):
    """Per token: flow time, frame rate and the clip's latent (T, H, W) -> one vector."""

    def __init__(self, dim: int, time_freqs: int = 256, aux_freqs: int = 64):
        super().__init__()
        self.time_freqs, self.aux_freqs = time_freqs, aux_freqs
        self.mlp = nn.Sequential(
            nn.Linear(time_freqs + 4 * aux_freqs, dim), nn.SiLU(), nn.Linear(dim, dim)
        )

    def forward(self, t: Tensor, fps: Tensor, size: Tensor) -> Tensor:
        feats = [sinusoidal(t * 1000, self.time_freqs), sinusoidal(fps, self.aux_freqs, 100.0)]
        feats += [sinusoidal(size[..., i], self.aux_freqs, 100.0) for i in range(3)]
        return self.mlp(torch.cat(feats, dim=-1).to(self.mlp[0].weight.dtype))


class AbsolutePosition(nn.Module):
    """Where a token sits in its frame, as a fraction of the frame's height and width (so
    "left" means the same at every size and aspect), and its rotary time.

    Rotary embeddings alone tell tokens only where they are relative to each other; generating
    a layout from noise ("a ball in the top left") needs absolute places, which without this
    the model must infer from edge effects (measured: a 2-block model could not learn a fixed
    latent from pure noise in 300 steps without it)."""

    def __init__(self, dim: int, patch: tuple[int, int, int], freqs: int = 64):
        super().__init__()
        self.freqs = freqs
        # On the CPU even under a meta-device context (`load_model`): it is not saved.
        hw = torch.tensor(patch[1:], dtype=torch.float32, device="cpu")
        self.register_buffer("patch_hw", hw, False)
        self.proj = nn.Linear(3 * freqs, dim)

    def forward(self, pos: Tensor, size: Tensor) -> Tensor:
        frac = (pos[..., 1:] + 0.5) / (size[..., 1:] / self.patch_hw)  # (B, N, 2) in (0, 1)
        feats = [sinusoidal(frac[..., i] * 100, self.freqs, 1000.0) for i in range(2)]
        feats.append(sinusoidal(pos[..., 0], self.freqs, 100.0))
        return self.proj(torch.cat(feats, dim=-1).to(self.proj.weight.dtype))


def rope_axes(head_dim: int) -> tuple[int, int, int]:
    """Split a head's dimensions over (t, h, w): even sizes, space gets a third each."""
    space = (head_dim // 3) // 2 * 2
    return head_dim - 2 * space, space, space


def rope_angles(pos: Tensor, head_dim: int, theta: float) -> Tensor:
    """(B, N, 3) positions -> (B, N, head_dim / 2) rotation angles, axis by axis."""
    angles = []
    for axis, d in enumerate(rope_axes(head_dim)):
        freqs = theta ** (-torch.arange(0, d, 2, device=pos.device, dtype=torch.float32) / d)
        angles.append(pos[..., axis : axis + 1].float() * freqs)
    return torch.cat(angles, dim=-1)


def rope_rotations(pos: Tensor, head_dim: int, theta: float) -> Tensor:
    """(B, N, 3) positions -> unit complex rotations (B, N, 1, head_dim / 2), one per pair of
    dimensions, broadcasting over heads."""
    return torch.polar(torch.ones(()), rope_angles(pos, head_dim, theta))[:, :, None]


def apply_rope(x: Tensor, rot: Tensor) -> Tensor:
    """Rotate pairs (x[2i], x[2i+1]) of x (B, N, heads, d) by `rot` (B, N, 1, d/2), as one
    complex product, which copies less than rotating stacked real pairs."""
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs * rot).flatten(-2).to(x.dtype)


# --- blocks ---
class Attention(nn.Module):
    """Multi-head attention with RMS-normalised queries and keys; self or cross."""

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(kv_dim or dim, 2 * dim)
        self.q_norm = nn.RMSNorm(dim // heads, eps=1e-6)
        self.k_norm = nn.RMSNorm(dim // heads, eps=1e-6)
        self.out = nn.Linear(dim, dim)

    def forward(
        self,
        x: Tensor,
        context: Tensor,
        mask: Tensor | None,
        rope: Tensor | None,
        segments: tuple[list[int], list[int]] | None = None,
    ) -> Tensor:
        """`segments` (query lengths, key lengths) splits one packed row into independent
        pieces: exact block-diagonal attention at the cost of each block alone."""
        # Heads are split as (B, N, heads, d) and handed to SDPA transposed, not copied into
        # (B, heads, N, d): fewer copies, and CPU attention ran as fast on the strided view.
        q = self.q(x).unflatten(-1, (self.heads, -1))
        k, v = self.kv(context).unflatten(-1, (2, self.heads, -1)).unbind(2)
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = apply_rope(q, rope), apply_rope(k, rope)
        q, k, v = (y.transpose(1, 2) for y in (q, k, v))  # (B, heads, N, d)
        if segments is None:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            q_lens, k_lens = segments
            pieces = zip(q.split(q_lens, 2), k.split(k_lens, 2), v.split(k_lens, 2), strict=True)
            out = torch.cat([F.scaled_dot_product_attention(*p) for p in pieces], dim=2)
        return self.out(out.transpose(1, 2).flatten(2))


class Block(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        d = cfg.dim
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, cfg.heads)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.cross = Attention(d, cfg.heads)
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU("tanh"), nn.Linear(hidden, d))
        # This block's offsets to the shared modulation: shift, scale, gate for attn and mlp.
        self.mod_table = nn.Parameter(torch.zeros(6, d))

    def forward(
        self,
        x: Tensor,
        mod: Tensor,
        index: Tensor,
        text: Tensor,
        layout: AttentionLayout,
        rope: Tensor,
    ) -> Tensor:
        # mod: (U, 6, D) shared modulation of the U distinct conditions; index (B, N or 1)
        # picks each token's.
        shift1, scale1, gate1, shift2, scale2, gate2 = (mod + self.mod_table)[index].unbind(2)
        h = self.norm1(x) * (1 + scale1) + shift1
        x = x + gate1 * self.attn(h, h, layout.self_mask, rope, layout.self_segments)
        x = x + self.cross(self.norm2(x), text, layout.cross_mask, None, layout.cross_segments)
        h = self.norm3(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


class DiT(nn.Module):
    """Velocity prediction for a `TokenBatch`: returns (B, N, patch_dim)."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        self.config = config
        d = config.dim
        self.embed = nn.Linear(config.patch_dim, d)
        self.pos_embed = AbsolutePosition(d, config.patch_size)
        # Layout maps enter like a second patch embedding, added to the tokens (zero-initialised,
        # so a trained text-only model gains layout input without changing its outputs).
        self.layout_embed = (
            nn.Linear(config.layout_channels * config.patch_volume, d)
            if config.layout_channels
            else None
        )
        # A refiner's base latent enters the same way; its noise-augmentation level joins the
        # per-token conditioning, so the refiner knows how far to trust it.
        self.cond_embed, self.aug_embed = None, None
        if config.cond_channels:
            self.cond_embed = nn.Linear(config.cond_channels * config.patch_volume, d)
            self.aug_embed = nn.Linear(64, d)
        # A flow map's step size joins the conditioning like the augmentation level; zero-
        # initialised, so a velocity model gains it without changing its outputs.
        self.step_embed = nn.Linear(64, d) if config.step_input else None
        self.cond = ConditionEmbedding(d)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        self.text_proj = nn.Sequential(
            nn.LayerNorm(config.text_dim), nn.Linear(config.text_dim, d), nn.GELU("tanh"),
            nn.Linear(d, d),
        )  # fmt: skip
        # The caption's mean token joins the per-token conditioning (as pooled text does in SD3
        # and Flux): a global path from caption to every block's modulation, beside attention.
        self.text_pool = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mod_out = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.proj_out = nn.Linear(d, config.patch_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        # Zero modulation and output: every block starts as the identity (adaLN-zero), the
        # prediction starts at zero.
        zeroed = [self.modulation[1], self.mod_out[1], self.proj_out]
        extra = (self.layout_embed, self.cond_embed, self.aug_embed, self.step_embed)
        zeroed += [m for m in extra if m]
        for m in zeroed:
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, batch: TokenBatch) -> Tensor:
        cfg = self.config
        batch = routed(batch)
        x = self.embed(batch.x) + self.pos_embed(batch.pos, batch.size)
        if self.layout_embed is not None:  # no layout reads as the all-zero (dropped) map
            lay = self.layout_embed
            x = x + (lay.bias if batch.layout is None else lay(batch.layout.to(x.dtype)))
        if self.cond_embed is not None:
            if batch.cond is None or batch.aug is None:
                raise ValueError("a refiner needs the base latent: the batch has no cond")
            x = x + self.cond_embed(batch.cond.to(x.dtype))
        text = self.text_proj(batch.text)
        layout = attention_layout(batch)
        c, index = self._conditions(batch, text, layout)
        mod = self.modulation(c).unflatten(-1, (6, cfg.dim))  # (U, 6, D), U distinct conditions
        rope = rope_rotations(batch.pos, cfg.dim // cfg.heads, cfg.rope_theta)
        for block in self.blocks:
            x = block(x, mod, index, text, layout, rope)
        shift, scale = self.mod_out(c)[index].chunk(2, dim=-1)
        return self.proj_out(self.norm_out(x) * (1 + scale) + shift)

    def _conditions(
        self, batch: TokenBatch, text: Tensor, layout: AttentionLayout
    ) -> tuple[Tensor, Tensor]:
        """The conditioning vectors (U, D) of the distinct conditions in the batch, and each
        token's one: index (B, N), or (B, 1) when every row is one condition (a stacked batch
        at one time per clip). Tokens of one clip and latent frame share time, frame rate,
        size and caption, so U is at most clips x frames: computing the conditioning MLPs and
        modulation per token instead cost 9% of a training step's FLOPs
        (benchmarks/dit_bench.py)."""
        pooled_text = pooled(text, layout)  # (B, N, D), or (B, 1, D): one caption a row
        per_row = pooled_text.shape[1] == 1
        rows, cols, index = batch.routing.rows, batch.routing.cols, batch.routing.index
        pick = (rows, cols)
        c = self.cond(batch.t[pick], batch.fps[pick], batch.size[pick])
        c = c + self.text_pool(pooled_text[rows, 0 if per_row else cols])
        if self.aug_embed is not None:
            c = c + self.aug_embed(sinusoidal(batch.aug[pick] * 1000, 64).to(c.dtype))
        if self.step_embed is not None:
            if batch.step is None:
                raise ValueError("a flow map needs each step's size: the batch has no step")
            c = c + self.step_embed(sinusoidal(batch.step[pick] * 1000, 64).to(c.dtype))
        return c, index

    # --- persistence ---
    def save_pretrained(self, folder: str | os.PathLike, state_dict: dict | None = None) -> None:
        """Write config.json and model.safetensors into `folder`, atomically (`state_dict`
        overrides the weights, e.g. with EMA weights)."""
        save_model(folder, self.config, self.state_dict() if state_dict is None else state_dict)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> DiT:
        return load_model(cls, DiTConfig, folder, "transformer")


@dataclass
class AttentionLayout:
    """Who attends to whom. A packed row is cut into per-clip segments (exact, and each clip
    pays only for its own attention); padded rows use boolean masks; a plain stacked batch
    needs neither."""

    self_mask: Tensor | None = None  # (B, 1, N, N)
    cross_mask: Tensor | None = None  # (B, 1, N, L)
    token_lens: list[int] | None = None  # packed: tokens of each clip, in order
    text_lens: list[int] | None = None  # packed: caption tokens of each clip

    @property
    def self_segments(self) -> tuple[list[int], list[int]] | None:
        return None if self.token_lens is None else (self.token_lens, self.token_lens)

    @property
    def cross_segments(self) -> tuple[list[int], list[int]] | None:
        return None if self.token_lens is None else (self.token_lens, self.text_lens)


def attention_layout(batch: TokenBatch) -> AttentionLayout:
    """Segments for packed rows; boolean masks (a token attends to tokens and caption tokens
    of its own clip) for padded rows. Padding tokens (seq = -1) attend everywhere so their rows
    are never empty; their outputs are discarded. From the batch's routing (worked out on the
    host) where it has one."""
    routing = routed(batch).routing
    if routing.token_lens is not None:
        return AttentionLayout(token_lens=routing.token_lens, text_lens=routing.text_lens)
    if not routing.masked:
        return AttentionLayout()
    pad = (batch.seq < 0)[:, :, None]
    self_mask = (batch.seq[:, :, None] == batch.seq[:, None, :]) | pad
    cross_mask = (batch.seq[:, :, None] == batch.text_seq[:, None, :]) | pad
    return AttentionLayout(self_mask[:, None], cross_mask[:, None])


def pooled(text: Tensor, layout: AttentionLayout) -> Tensor:
    """Each token's caption, averaged over the caption's tokens: (B, L, D) -> (B, N, D), or
    (B, 1, D) when every token of a row shares the row's whole caption."""
    if layout.token_lens is not None:
        means = [t.mean(1) for t in text.split(layout.text_lens, dim=1)]  # each (1, D)
        counts = torch.tensor(layout.token_lens, device=text.device)
        return torch.cat(means).repeat_interleave(counts, dim=0)[None]
    if layout.cross_mask is None:
        return text.mean(1, keepdim=True)
    weights = layout.cross_mask[:, 0].to(text.dtype)  # (B, N, L)
    return weights @ text / weights.sum(-1, keepdim=True)
