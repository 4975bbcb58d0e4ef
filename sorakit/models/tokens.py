"""Spacetime latent patches: latents cut into tokens, and batches of tokens at native sizes.

A latent (C, T, H, W) becomes T/pt * H/ph * W/pw tokens of C*pt*ph*pw values each, in
(t, h, w) raster order. Each token carries its own flow time, its rotary position (time in
reference latent frames, so clips at different frame rates place frames at their true times;
row and column in token units) and the index of the sample it belongs to.

Two ways to batch clips of different shapes:
- `stack`: clips of one shape side by side (bucketed batching, the simple path);
- `pack`: clips of any shapes concatenated into one sequence (NaViT); attention is then
  block-diagonal through the sample index, so each clip sees only itself and its own caption.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from einops import rearrange
from torch import Tensor

PatchSize = tuple[int, int, int]


def check_patchable(shape: tuple[int, int, int], patch: PatchSize) -> None:
    """Raise a clear error if a (T, H, W) latent does not divide into patches."""
    for axis, n, p in zip("THW", shape, patch, strict=True):
        if n % p:
            raise ValueError(f"latent {axis}={n} is not a multiple of the patch size {p}")


def patchify(latent: Tensor, patch: PatchSize) -> Tensor:
    """(B, C, T, H, W) -> (B, N, C*pt*ph*pw) tokens in (t, h, w) raster order."""
    check_patchable(tuple(latent.shape[2:]), patch)
    pt, ph, pw = patch
    return rearrange(
        latent, "b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)", pt=pt, ph=ph, pw=pw
    )


def unpatchify(tokens: Tensor, grid: tuple[int, int, int], patch: PatchSize) -> Tensor:
    """(B, N, C*pt*ph*pw) -> (B, C, T, H, W); `grid` is the token grid (T/pt, H/ph, W/pw)."""
    pt, ph, pw = patch
    t, h, w = grid
    return rearrange(
        tokens, "b (t h w) (c pt ph pw) -> b c (t pt) (h ph) (w pw)", t=t, h=h, w=w,
        pt=pt, ph=ph, pw=pw,
    )  # fmt: skip


def token_grid(latent_shape: tuple[int, int, int], patch: PatchSize) -> tuple[int, int, int]:
    check_patchable(latent_shape, patch)
    return tuple(n // p for n, p in zip(latent_shape, patch, strict=True))


def positions(grid: tuple[int, int, int], patch: PatchSize, fps: float, ref_fps: float) -> Tensor:
    """(N, 3) rotary positions of a token grid: time in latent frames at `ref_fps` (so a clip
    at twice the frame rate places its latent frames half as far apart), row, column."""
    t, h, w = grid
    tt = torch.arange(t, dtype=torch.float32) * patch[0] * (ref_fps / fps)
    hh = torch.arange(h, dtype=torch.float32)
    ww = torch.arange(w, dtype=torch.float32)
    return torch.stack(torch.meshgrid(tt, hh, ww, indexing="ij"), dim=-1).reshape(-1, 3)


def per_token(values: Tensor, grid: tuple[int, int, int], patch: PatchSize) -> Tensor:
    """A value per latent frame (T,) -> one per token (N,), in token order; a token spanning
    patch[0] latent frames takes its first frame's value."""
    return values[:: patch[0]].repeat_interleave(grid[1] * grid[2])


@dataclass(frozen=True)
class Routing:
    """What the transformer must know about a batch's layout before it runs, worked out on the
    host where the batch is built (`stack`, `pack`): read from the device inside the forward,
    each fact would stall a GPU until the step's queued work is done."""

    masked: bool  # attention needs a mask or segments (packing or padding)
    token_lens: list[int] | None  # packed without padding: tokens of each clip, in order
    text_lens: list[int] | None  # packed without padding: caption tokens of each clip
    # The distinct conditions (time, frame rate, size, clip, augmentation): one representative
    # token's row and column each, and each token's condition (`distinct_tokens`).
    rows: Tensor
    cols: Tensor
    index: Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Routing:
        move = {k: getattr(self, k).to(device, non_blocking=non_blocking)
                for k in ("rows", "cols", "index")}  # fmt: skip
        return replace(self, **move)


@dataclass
class TokenBatch:
    """What the transformer reads. B rows of N tokens; in a packed batch B = 1 and `seq` tells
    the samples apart. Padding tokens have seq = -1; per-sample values are gathered per token.

    Per-token conditioning (`t`, `fps`, `size`) lets one sequence hold samples at different
    times and clean conditioning frames (t = 0) beside noisy ones.
    """

    x: Tensor  # (B, N, P) token values
    t: Tensor  # (B, N) flow time of each token
    pos: Tensor  # (B, N, 3) rotary positions
    seq: Tensor  # (B, N) long, sample index; -1 = padding
    fps: Tensor  # (B, N) frame rate of the token's clip
    size: Tensor  # (B, N, 3) latent (T, H, W) of the token's clip
    text: Tensor  # (B, L, D_text) caption tokens
    text_seq: Tensor  # (B, L) long, sample index of each caption token; -1 = padding
    grids: list[tuple[int, int, int]]  # token grid of each sample, in sample order
    packed: bool  # True: one row of several samples; False: one sample per row
    layout: Tensor | None = None  # (B, N, S*pt*ph*pw) layout-map patches, or none
    cond: Tensor | None = None  # (B, N, C'*pt*ph*pw) a refiner's conditioning-latent patches
    aug: Tensor | None = None  # (B, N) noise-augmentation level of that conditioning
    step: Tensor | None = None  # (B, N) a flow-map step's size (`DiTConfig.step_input`)
    routing: Routing | None = None  # set by `stack` and `pack`; computed in the forward if None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TokenBatch:
        """The batch with every tensor on `device` (those already there are not copied). To a
        GPU with `non_blocking`, host tensors go through pinned memory, so the copy overlaps
        the GPU's work instead of waiting for it."""
        pin = non_blocking and torch.device(device).type == "cuda"

        def move(value):
            if pin and isinstance(value, Tensor) and value.device.type == "cpu":
                value = value.pin_memory()
            return value.to(device, non_blocking=non_blocking)

        moved = {
            f.name: move(getattr(self, f.name))
            for f in fields(self)
            if isinstance(getattr(self, f.name), Tensor | Routing)
        }
        return replace(self, **moved)

    def replace_x(self, x: Tensor, t: Tensor | None = None) -> TokenBatch:
        """The same batch with new token values (and optionally times, which drop the routing:
        its conditions were those of the old times)."""
        if t is None:
            return replace(self, x=x)
        return replace(self, x=x, t=t, routing=None)


def condition_keys(batch: TokenBatch) -> Tensor:
    """(B, N, K) what sets each token's conditioning: time, frame rate, latent size, clip and,
    for a refiner's batch, its input's augmentation level; for a flow map's, its step size."""
    keys = [batch.t, batch.fps, *batch.size.unbind(-1), batch.seq.to(batch.t.dtype)]
    for extra in (batch.aug, batch.step):
        if extra is not None:
            keys.append(extra)
    return torch.stack([k.double() for k in keys], dim=-1)


def distinct_tokens(keys: Tensor, per_row: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Tokens of one row with equal keys (B, N, K) share their conditioning. Returns one
    representative token of each distinct (row, key) as row and column indices (U,), and
    which one each token has, index (B, N); with `per_row`, (B, 1) when every row holds one
    key."""
    b, n = keys.shape[:2]
    if per_row and bool((keys == keys[:, :1]).all()):
        rows = torch.arange(b, device=keys.device)
        return rows, torch.zeros_like(rows), rows[:, None]
    row_ids = torch.arange(b, device=keys.device, dtype=keys.dtype)[:, None, None]
    flat = torch.cat([row_ids.expand(b, n, 1), keys], dim=-1).flatten(0, 1)
    _, inverse = torch.unique(flat, dim=0, return_inverse=True)
    positions = torch.arange(b * n, device=keys.device)
    first = positions.new_full((int(inverse.max()) + 1,), b * n)
    first = first.scatter_reduce(0, inverse, positions, "amin")
    return first // n, first % n, inverse.view(b, n)


def route(batch: TokenBatch) -> Routing:
    """The batch's routing, from its tensors: call it where they are on the host."""
    padded = bool((batch.seq < 0).any()) or bool((batch.text_seq < 0).any())
    masked = batch.packed or padded
    token_lens = text_lens = None
    if batch.packed and not padded:
        token_lens = [t * h * w for t, h, w in batch.grids]
        text_lens = torch.bincount(batch.text_seq[0], minlength=len(token_lens)).tolist()
    # Without a mask every token of a row reads the row's whole caption: one condition a row
    # is possible; with one, each token pools its own clip's caption.
    rows, cols, index = distinct_tokens(condition_keys(batch), per_row=not masked)
    return Routing(masked, token_lens, text_lens, rows, cols, index)


def routed(batch: TokenBatch) -> TokenBatch:
    """The batch with its routing: its own, or worked out now from its tensors (reading them
    back from a GPU: batches from `stack` and `pack` never need it)."""
    return batch if batch.routing is not None else replace(batch, routing=route(batch))


@dataclass
class Sample:
    """One clip's latent with its conditioning, before batching."""

    latent: Tensor  # (C, T, H, W)
    t: Tensor  # () or (T,) flow time; per latent frame lets conditioning frames stay clean
    fps: float
    text: Tensor  # (L, D_text) unpadded caption tokens
    layout: Tensor | None = None  # (S, T, H, W) layout map on the latent grid
    cond: Tensor | None = None  # (C', T, H, W) a refiner's input: the base latent, resampled
    aug: float = 0.0  # how much noise was mixed into `cond` (0: clean)
    step: float | None = None  # a flow map's step size (None: a velocity model's batch)


def _map_tokens(samples: list[Sample], patch: PatchSize, name: str) -> list[Tensor] | None:
    """Each sample's patches of its per-cell input `name` (layout or cond) as (N_i, S*pt*ph*pw);
    samples without one get zeros (for layouts: the dropped layout) when others have one; None
    when none has one."""
    given = [getattr(s, name) for s in samples if getattr(s, name) is not None]
    if not given:
        return None
    channels = given[0].shape[0]
    out = []
    for s in samples:
        value = getattr(s, name)
        if value is None:
            value = s.latent.new_zeros(channels, *s.latent.shape[1:])
        out.append(patchify(value[None], patch)[0])
    return out


def _per_token(parts: list, values: list[float] | None) -> list[Tensor] | None:
    """A per-clip scalar (one of `values`) on every token of its clip; None stays None."""
    if values is None:
        return None
    return [torch.full((p[0].shape[0],), float(v)) for v, p in zip(values, parts, strict=True)]


def _scalars(samples: list[Sample], parts: list) -> tuple[list | None, list | None]:
    """Each clip's augmentation level and step size on its tokens: augmentation only in a
    batch where some clip has a refiner's input, step sizes only where some clip has one."""
    augs = [s.aug for s in samples] if any(s.cond is not None for s in samples) else None
    steps = [s.step or 0.0 for s in samples] if any(s.step is not None for s in samples) else None
    return _per_token(parts, augs), _per_token(parts, steps)


def _sample_tokens(s: Sample, patch: PatchSize, ref_fps: float):
    lat_shape = tuple(s.latent.shape[1:])
    grid = token_grid(lat_shape, patch)
    x = patchify(s.latent[None], patch)[0]
    n = x.shape[0]
    t = s.t.float()
    t = t.expand(n) if t.dim() == 0 else per_token(t, grid, patch)
    size = torch.tensor(lat_shape, dtype=torch.float32).expand(n, 3)
    return x, t, positions(grid, patch, s.fps, ref_fps), size, grid


def stack(samples: list[Sample], patch: PatchSize, ref_fps: float) -> TokenBatch:
    """Samples of one latent shape, one per row; captions padded to the longest."""
    shapes = {tuple(s.latent.shape) for s in samples}
    if len(shapes) != 1:
        raise ValueError(f"stack needs one latent shape, got {sorted(shapes)}; use pack")
    parts = [_sample_tokens(s, patch, ref_fps) for s in samples]
    b, n = len(samples), parts[0][0].shape[0]
    text, text_seq = pad_captions([s.text for s in samples])
    layouts, conds = _map_tokens(samples, patch, "layout"), _map_tokens(samples, patch, "cond")
    augs, steps = _scalars(samples, parts)
    return routed(
        TokenBatch(
            x=torch.stack([p[0] for p in parts]),
            t=torch.stack([p[1] for p in parts]),
            pos=torch.stack([p[2] for p in parts]),
            seq=torch.arange(b)[:, None].expand(b, n).clone(),
            fps=torch.tensor([s.fps for s in samples], dtype=torch.float32)[:, None].expand(b, n),
            size=torch.stack([p[3] for p in parts]),
            text=text,
            text_seq=text_seq,
            grids=[p[4] for p in parts],
            packed=False,
            layout=None if layouts is None else torch.stack(layouts),
            cond=None if conds is None else torch.stack(conds),
            aug=None if augs is None else torch.stack(augs),
            step=None if steps is None else torch.stack(steps),
        )
    )


def pad_captions(texts: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Row i holds caption i, padded; its tokens are marked with sample index i."""
    length = max(t.shape[0] for t in texts)
    out = texts[0].new_zeros(len(texts), length, texts[0].shape[-1])
    seq = torch.full((len(texts), length), -1, dtype=torch.long)
    for i, t in enumerate(texts):
        out[i, : t.shape[0]] = t
        seq[i, : t.shape[0]] = i
    return out, seq


def pack(samples: list[Sample], patch: PatchSize, ref_fps: float) -> TokenBatch:
    """Samples of any shapes in one sequence (B = 1), captions concatenated likewise."""
    parts = [_sample_tokens(s, patch, ref_fps) for s in samples]
    seq = torch.cat([torch.full((p[0].shape[0],), i) for i, p in enumerate(parts)])
    fps = torch.cat(
        [torch.full((p[0].shape[0],), float(s.fps)) for s, p in zip(samples, parts, strict=True)]
    )
    text_seq = torch.cat([torch.full((s.text.shape[0],), i) for i, s in enumerate(samples)])
    layouts, conds = _map_tokens(samples, patch, "layout"), _map_tokens(samples, patch, "cond")
    augs, steps = _scalars(samples, parts)
    return routed(
        TokenBatch(
            x=torch.cat([p[0] for p in parts])[None],
            t=torch.cat([p[1] for p in parts])[None],
            pos=torch.cat([p[2] for p in parts])[None],
            seq=seq[None],
            fps=fps[None],
            size=torch.cat([p[3] for p in parts])[None],
            text=torch.cat([s.text for s in samples])[None],
            text_seq=text_seq[None],
            grids=[p[4] for p in parts],
            packed=True,
            layout=None if layouts is None else torch.cat(layouts)[None],
            cond=None if conds is None else torch.cat(conds)[None],
            aug=None if augs is None else torch.cat(augs)[None],
            step=None if steps is None else torch.cat(steps)[None],
        )
    )


def split_tokens(batch: TokenBatch, values: Tensor) -> list[Tensor]:
    """Per-token outputs (B, N, P) of a batch -> one (N_i, P) tensor per sample, in order."""
    if not batch.packed:
        return list(values)
    counts = [t * h * w for t, h, w in batch.grids]
    return list(values[0, : sum(counts)].split(counts))


def to_latents(batch: TokenBatch, values: Tensor, patch: PatchSize) -> list[Tensor]:
    """Per-token outputs of a batch -> one (C, T, H, W) latent per sample."""
    return [
        unpatchify(v[None], grid, patch)[0]
        for v, grid in zip(split_tokens(batch, values), batch.grids, strict=True)
    ]
