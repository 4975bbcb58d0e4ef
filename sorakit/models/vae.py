"""The video compression network: a causal 3D convolutional VAE.

Layout: videos are (B, C, T, H, W) in [-1, 1]. Time is causal everywhere: every convolution
looks only at the current and earlier frames (left padding), and normalisation is per position
(RMS over channels), never across time. Temporal downsampling packs pairs of frames into channels
after duplicating the first frame, so a clip of 1 + 4k frames becomes 1 + k latent frames and the
first frame is encoded on its own: an image is a 1-frame video in the same latent space.

Because of causality a long video can be encoded or decoded chunk by chunk: a `CausalCache`
carries each causal convolution's last input frames from one chunk to the next, so chunked output
equals full output while memory stays that of one chunk.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from sorakit.models.persist import load_model, save_model
from sorakit.presets import Presets


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of a causal video VAE. Level i has `blocks_per_level` residual blocks at
    `base_channels * channel_mults[i]` channels, then halves space and/or time as flagged."""

    latent_channels: int = 16
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 4)
    spatial_down: tuple[bool, ...] = (True, True, True)
    temporal_down: tuple[bool, ...] = (False, True, True)
    blocks_per_level: int = 1
    in_channels: int = 3
    patch_size: int = 1  # pixels folded into channels before the first conv (space-to-depth)
    # Residual autoencoding (as in DC-AE): the first `in_channels` latent channels get the
    # mean colour of their spacetime block added, and the decoder adds it back, repeated over
    # the block; the network learns the rest. Without it colour came last and slowly.
    colour_shortcut: bool = False
    # The shortcut per frame: each frame's mean colour of the cell (in_channels x
    # temporal_factor latent channels) instead of one mean over the cell's frames. The block
    # mean repeats one colour over all the frames of a latent frame, and after 500 steps the
    # decoder still showed one position per latent frame: motion came out as a staircase
    # (benchmarks/vae_motion.py).
    shortcut_frames: bool = False
    # Residual blocks per decoder level (None: `blocks_per_level`). A decoder can be grown
    # from a trained VAE's (`grow_decoder`) without touching its encoder, so the latent
    # space, and every transformer trained on it, stays valid.
    decoder_blocks: int | None = None

    def __post_init__(self) -> None:
        n = len(self.channel_mults)
        if len(self.spatial_down) != n or len(self.temporal_down) != n:
            raise ValueError("channel_mults, spatial_down and temporal_down need one entry a level")
        if self.colour_shortcut and self.latent_channels < self.shortcut_channels:
            raise ValueError(
                f"the colour shortcut needs {self.shortcut_channels} latent channels, "
                f"got {self.latent_channels}"
            )

    @property
    def shortcut_channels(self) -> int:
        return self.in_channels * (self.temporal_factor if self.shortcut_frames else 1)

    @property
    def decoder_blocks_per_level(self) -> int:
        return self.blocks_per_level if self.decoder_blocks is None else self.decoder_blocks

    @property
    def spatial_factor(self) -> int:
        return self.patch_size * 2 ** sum(self.spatial_down)

    @property
    def temporal_factor(self) -> int:
        return 2 ** sum(self.temporal_down)

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(C, T, H, W) of the latent of a (frames, height, width) video; raises if invalid."""
        check_video_size(self, frames, height, width)
        tf, sf = self.temporal_factor, self.spatial_factor
        return self.latent_channels, 1 + (frames - 1) // tf, height // sf, width // sf


# The default model's VAE: 4x space (a 4x4 patch fold, no halving), 4x time, 16 latent
# channels. World clips are tiny (64 px), and the 8x layout ("world-s8") came back grey
# after 1000 training steps (25 dB held out), so the default keeps 4x space; the diffusion
# transformer folds 2x2 latent patches into a token, so its token count is unchanged.
_WORLD = VAEConfig(
    base_channels=48,
    channel_mults=(1, 2),
    spatial_down=(False, False),
    temporal_down=(True, True),
    patch_size=4,
    colour_shortcut=True,
)
# "world" with the colour shortcut per frame (12 of its 16 latent channels), so that the motion
# inside a latent frame has a path through the latent.
_WORLD_PER_FRAME = replace(_WORLD, shortcut_frames=True)

VAE_PRESETS: Presets[VAEConfig] = Presets(
    {
        # For tests: 4x space, 4x time, about 77k parameters.
        "tiny": VAEConfig(
            latent_channels=4,
            base_channels=8,
            channel_mults=(1, 2),
            spatial_down=(True, True),
            temporal_down=(True, True),
        ),
        "world": _WORLD,
        "world-per-frame": _WORLD_PER_FRAME,
        # "world-per-frame" with three residual blocks a decoder level instead of one (2.6M
        # decoder parameters instead of 1.3M), grown from a trained "world-per-frame" VAE by
        # decoder-only training (`--init ... --decoder-only`): the same encoder, so the same
        # latent space. The shipped default model's VAE.
        "world-per-frame-deep": replace(_WORLD_PER_FRAME, decoder_blocks=3),
        # 8x space (a 4x4 patch fold, then one halving), 2.6M parameters.
        "world-s8": VAEConfig(
            base_channels=48,
            channel_mults=(1, 2),
            spatial_down=(True, False),
            temporal_down=(True, True),
            patch_size=4,
        ),
    },
    aliases={"world-f": "world-per-frame", "world-fd": "world-per-frame-deep"},
)


def check_video_size(config: VAEConfig, frames: int, height: int, width: int) -> None:
    tf, sf = config.temporal_factor, config.spatial_factor
    if frames < 1 or (frames - 1) % tf:
        raise ValueError(
            f"frame count must be 1 + {tf}k (1, {1 + tf}, {1 + 2 * tf}, ...), got {frames}"
        )
    if height % sf or width % sf or height < sf or width < sf:
        raise ValueError(f"height and width must be multiples of {sf}, got {width}x{height}")


class CausalCache(dict):
    """Per-layer state carried between chunks: last input frames of causal convolutions, and
    whether the temporal layers have seen the first frame. Create one per video and pass it to
    every chunk in order."""


class CausalConv3d(nn.Module):
    """A 3D convolution padded on the left in time (and symmetrically in space)."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int] = (3, 3, 3)):
        super().__init__()
        kt, kh, kw = kernel
        self.time_pad = kt - 1
        self.conv = nn.Conv3d(cin, cout, kernel, padding=(0, kh // 2, kw // 2))

    def forward(self, x: Tensor, cache: CausalCache | None = None) -> Tensor:
        if self.time_pad:
            past = None if cache is None else cache.get(self)
            if past is None:
                past = x.new_zeros(*x.shape[:2], self.time_pad, *x.shape[3:])
            x = torch.cat([past, x], dim=2)
            if cache is not None:
                cache[self] = x[:, :, -self.time_pad :].detach().clone()
        return self.conv(x)


class RMSNorm(nn.Module):
    """RMS over channels at each (t, h, w): per position, so it never mixes frames."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels, 1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-6) * self.weight


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1, self.conv1 = RMSNorm(cin), CausalConv3d(cin, cout)
        self.norm2, self.conv2 = RMSNorm(cout), CausalConv3d(cout, cout)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, cache: CausalCache | None = None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)
        h = self.conv2(F.silu(self.norm2(h)), cache)
        return self.skip(x) + h


class Downsample(nn.Module):
    """Halve space (strided 3x3 conv per frame) and/or time (pairs of frames into channels)."""

    def __init__(self, channels: int, space: bool, time: bool):
        super().__init__()
        self.space, self.time = space, time
        if space:
            self.spatial = nn.Conv3d(
                channels, channels, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)
            )
        if time:
            self.temporal = nn.Conv3d(2 * channels, channels, 1)

    def forward(self, x: Tensor, cache: CausalCache | None = None) -> Tensor:
        if self.space:
            x = self.spatial(x)
        if self.time:
            if cache is None or not cache.get(self):  # this chunk holds the first frame
                x = torch.cat([x[:, :, :1], x], dim=2)
                if cache is not None:
                    cache[self] = True
            x = self.temporal(rearrange(x, "b c (t two) h w -> b (c two) t h w", two=2))
        return x


class Upsample(nn.Module):
    """Double time (channels into pairs of frames, dropping the first frame's twin) and/or
    space (nearest neighbour, then a 3x3 conv per frame)."""

    def __init__(self, channels: int, space: bool, time: bool):
        super().__init__()
        self.space, self.time = space, time
        if time:
            self.temporal = nn.Conv3d(channels, 2 * channels, 1)
        if space:
            self.spatial = nn.Conv3d(channels, channels, (1, 3, 3), padding=(0, 1, 1))

    def forward(self, x: Tensor, cache: CausalCache | None = None) -> Tensor:
        if self.time:
            x = rearrange(self.temporal(x), "b (c two) t h w -> b c (t two) h w", two=2)
            if cache is None or not cache.get(self):
                x = x[:, :, 1:]
                if cache is not None:
                    cache[self] = True
        if self.space:
            x = self.spatial(F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest"))
        return x


class BlockMean(nn.Module):
    """Mean of each latent cell's pixels: spatial_factor^2 pixels over its frames (the first
    frame alone, then groups of temporal_factor), (B, C, T, H, W) -> (B, C, t, h, w). Per frame
    (`shortcut_frames`): each frame's spatial mean, the frames of a cell stacked as channels,
    (B, C, T, H, W) -> (B, tf * C, t, h, w); the first frame fills all tf places."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.sf, self.tf, self.per_frame = (
            cfg.spatial_factor,
            cfg.temporal_factor,
            cfg.shortcut_frames,
        )

    def forward(self, x: Tensor, cache: CausalCache | None = None) -> Tensor:
        x = F.avg_pool3d(x, (1, self.sf, self.sf))
        parts = []
        if cache is None or not cache.get(self):  # this chunk holds the first frame
            first = x[:, :, :1]
            parts.append(first.repeat(1, self.tf, 1, 1, 1) if self.per_frame else first)
            x = x[:, :, 1:]
            if cache is not None:
                cache[self] = True
        if x.shape[2]:
            groups = x.unflatten(2, (-1, self.tf))  # (B, C, t, tf, h, w)
            if self.per_frame:
                parts.append(rearrange(groups, "b c t s h w -> b (s c) t h w"))
            else:
                parts.append(groups.mean(3))
        return torch.cat(parts, dim=2)


class BlockRepeat(nn.Module):
    """The inverse layout of `BlockMean`: each latent cell's value over its pixels and frames
    (per frame: each frame its own place's value; the first frame the mean of its places)."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.sf, self.tf, self.per_frame = (
            cfg.spatial_factor,
            cfg.temporal_factor,
            cfg.shortcut_frames,
        )
        self.channels = cfg.shortcut_channels

    def forward(self, z: Tensor, cache: CausalCache | None = None) -> Tensor:
        z = z[:, : self.channels]
        parts = []
        if cache is None or not cache.get(self):
            first = z[:, :, :1]
            if self.per_frame:
                first = first.unflatten(1, (self.tf, -1)).mean(1)
            parts.append(first)
            z = z[:, :, 1:]
            if cache is not None:
                cache[self] = True
        if z.shape[2]:
            if self.per_frame:
                parts.append(rearrange(z, "b (s c) t h w -> b c (t s) h w", s=self.tf))
            else:
                parts.append(z.repeat_interleave(self.tf, dim=2))
        x = torch.cat(parts, dim=2)
        return x.repeat_interleave(self.sf, dim=3).repeat_interleave(self.sf, dim=4)


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        chans = [cfg.base_channels * m for m in cfg.channel_mults]
        self.patch = cfg.patch_size
        self.conv_in = CausalConv3d(cfg.in_channels * cfg.patch_size**2, chans[0])
        self.levels = nn.ModuleList()
        cin = chans[0]
        for i, c in enumerate(chans):
            blocks = [ResBlock(cin if b == 0 else c, c) for b in range(cfg.blocks_per_level)]
            down = Downsample(c, cfg.spatial_down[i], cfg.temporal_down[i])
            self.levels.append(nn.ModuleList([*blocks, down]))
            cin = c
        self.mid = ResBlock(cin, cin)
        self.norm_out = RMSNorm(cin)
        self.conv_out = CausalConv3d(cin, 2 * cfg.latent_channels)
        # Start with almost no posterior noise (std 0.007): early latents are small, and noise of
        # std 0.14 drowned their colour (measured: 150 steps on four world clips gave PSNR 18.6
        # dB and no colour with it, 23.6 dB and colour without); the tiny KL weight lets the
        # variance grow only where the decoder tolerates it.
        with torch.no_grad():
            self.conv_out.conv.bias[cfg.latent_channels :].fill_(-10.0)
        self.shortcut = BlockMean(cfg) if cfg.colour_shortcut else None

    def forward(self, x: Tensor, cache: CausalCache | None = None) -> Tensor:
        p = self.patch
        shortcut = self.shortcut(x, cache) if self.shortcut is not None else None
        x = rearrange(x, "b c t (h p) (w q) -> b (c p q) t h w", p=p, q=p)
        x = self.conv_in(x, cache)
        for level in self.levels:
            for layer in level:
                x = layer(x, cache)
        x = self.mid(x, cache)
        moments = self.conv_out(F.silu(self.norm_out(x)), cache)  # (B, 2 * latent, t, h, w)
        if shortcut is not None:
            c = shortcut.shape[1]
            moments = torch.cat([moments[:, :c] + shortcut, moments[:, c:]], dim=1)
        return moments


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        chans = [cfg.base_channels * m for m in cfg.channel_mults]
        self.conv_in = CausalConv3d(cfg.latent_channels, chans[-1])
        self.mid = ResBlock(chans[-1], chans[-1])
        self.levels = nn.ModuleList()
        cin = chans[-1]
        for i in reversed(range(len(chans))):
            c = chans[i]
            up = Upsample(cin, cfg.spatial_down[i], cfg.temporal_down[i])
            blocks = [
                ResBlock(cin if b == 0 else c, c) for b in range(cfg.decoder_blocks_per_level)
            ]
            self.levels.append(nn.ModuleList([up, *blocks]))
            cin = c
        self.norm_out = RMSNorm(cin)
        self.patch = cfg.patch_size
        self.conv_out = CausalConv3d(cin, cfg.in_channels * cfg.patch_size**2)
        self.shortcut = BlockRepeat(cfg) if cfg.colour_shortcut else None

    def forward(self, z: Tensor, cache: CausalCache | None = None) -> Tensor:
        x = self.mid(self.conv_in(z, cache), cache)
        for level in self.levels:
            for layer in level:
                x = layer(x, cache)
        x = self.conv_out(F.silu(self.norm_out(x)), cache)
        p = self.patch
        x = rearrange(x, "b (c p q) t h w -> b c t (h p) (w q)", p=p, q=p)
        if self.shortcut is not None:
            x = x + self.shortcut(z, cache)
        return x


@dataclass
class Posterior:
    """A diagonal Gaussian over latents (normalised units)."""

    mean: Tensor
    logvar: Tensor

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype)
        return self.mean + torch.exp(0.5 * self.logvar) * noise.to(self.mean.device)

    def kl(self) -> Tensor:
        """KL to N(0, 1), mean over elements."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).mean()


def _chunks(total: int, first: int, size: int) -> Iterator[slice]:
    """[0, first), then pieces of `size` up to `total`."""
    yield slice(0, min(first, total))
    for start in range(first, total, size):
        yield slice(start, min(start + size, total))


class CausalVAE(nn.Module):
    """Encoder, decoder and latent normalisation (per-channel shift and scale, stored with the
    weights). `encode` and `decode` speak normalised latents; `chunk` (in latent frames) bounds
    memory for long videos and `tile` (pixels) for large frames."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.register_buffer("latent_shift", torch.zeros(config.latent_channels))
        self.register_buffer("latent_scale", torch.ones(config.latent_channels))

    @property
    def spatial_factor(self) -> int:
        return self.config.spatial_factor

    @property
    def temporal_factor(self) -> int:
        return self.config.temporal_factor

    @property
    def latent_channels(self) -> int:
        return self.config.latent_channels

    # --- normalisation ---
    def _normalise(self, z: Tensor) -> Tensor:
        return (z - self.latent_shift.view(1, -1, 1, 1, 1)) / self.latent_scale.view(1, -1, 1, 1, 1)

    def _denormalise(self, z: Tensor) -> Tensor:
        return z * self.latent_scale.view(1, -1, 1, 1, 1) + self.latent_shift.view(1, -1, 1, 1, 1)

    # --- encode / decode ---
    def _encode_raw(self, x: Tensor, chunk: int | None) -> Tensor:
        if chunk is None:
            return self.encoder(x)
        cache, tf = CausalCache(), self.config.temporal_factor
        parts = [self.encoder(x[:, :, s], cache) for s in _chunks(x.shape[2], 1, chunk * tf)]
        return torch.cat(parts, dim=2)

    def posterior(self, x: Tensor, chunk: int | None = None, tile: int | None = None) -> Posterior:
        """The latent distribution of videos x (B, C, T, H, W) in [-1, 1]."""
        check_video_size(self.config, *x.shape[2:])
        sf = self.config.spatial_factor
        moments = _tiled(lambda v: self._encode_raw(v, chunk), x, tile, sf, 1 / sf)
        mean, logvar = moments.chunk(2, dim=1)
        logvar = logvar.clamp(-30.0, 20.0) - 2 * torch.log(self.latent_scale).view(1, -1, 1, 1, 1)
        return Posterior(self._normalise(mean), logvar)

    def encode(self, x: Tensor, chunk: int | None = None, tile: int | None = None) -> Tensor:
        """Normalised latent means (B, latent, 1 + (T-1)/tf, H/sf, W/sf)."""
        return self.posterior(x, chunk, tile).mean

    def _decode_raw(self, z: Tensor, chunk: int | None) -> Tensor:
        if chunk is None:
            return self.decoder(z)
        cache, tf, out = CausalCache(), self.config.temporal_factor, None
        for s in _chunks(z.shape[2], 1, chunk):
            piece = self.decoder(z[:, :, s], cache)
            if out is None:  # filled in place: no second copy of a long video in memory
                frames = 1 + (z.shape[2] - 1) * tf
                out = piece.new_empty(*piece.shape[:2], frames, *piece.shape[3:])
            start = 0 if s.start == 0 else 1 + (s.start - 1) * tf
            out[:, :, start : start + piece.shape[2]] = piece
        return out

    def stream_decoder(self) -> Callable[[Tensor], Tensor]:
        """A decoder for one video whose latents arrive a piece at a time, in order: each call
        takes the next normalised latent frames and returns their video frames, equal to the
        matching frames of `decode` of the whole (the causal cache carries the past)."""
        cache = CausalCache()
        return lambda z: self.decoder(self._denormalise(z), cache)

    def decode(self, z: Tensor, chunk: int | None = None, tile: int | None = None) -> Tensor:
        """Videos (B, C, T, H, W), roughly in [-1, 1], from normalised latents."""
        sf = self.config.spatial_factor
        tile_latent = None if tile is None else max(tile // sf, 1)
        return _tiled(
            lambda v: self._decode_raw(v, chunk), self._denormalise(z), tile_latent, 1, sf
        )

    def forward(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Posterior]:
        post = self.posterior(x)
        return self.decode(post.sample(generator)), post

    # --- persistence ---
    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Write config.json and model.safetensors into `folder`, atomically."""
        save_model(folder, self.config, self.state_dict())

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> CausalVAE:
        return load_model(cls, VAEConfig, folder, "VAE")


def grow_decoder(model: CausalVAE, config: VAEConfig) -> CausalVAE:
    """A VAE of `config` that computes exactly what `model` does: its weights, plus the extra
    decoder blocks `config` asks for with their last convolution zeroed, so each starts as the
    identity (a residual block whose branch outputs zero) and training can only add to them.
    Only `decoder_blocks` may differ between the two configs."""
    old = model.config
    if replace(config, decoder_blocks=old.decoder_blocks) != old:
        raise ValueError("only decoder_blocks may differ when growing a decoder")
    if old.decoder_blocks_per_level < 1:  # a new first block would need a skip convolution
        raise ValueError("cannot grow a decoder with no blocks a level")
    if config.decoder_blocks_per_level < old.decoder_blocks_per_level:
        raise ValueError(
            f"cannot grow {old.decoder_blocks_per_level} decoder blocks a level "
            f"into {config.decoder_blocks_per_level}"
        )
    grown = CausalVAE(config)
    # A level is [upsample, block 0, block 1, ...]: the old blocks keep their names, the new
    # ones come after them.
    grown.load_state_dict(model.state_dict(), strict=False)
    first_new = 1 + old.decoder_blocks_per_level
    for level in grown.decoder.levels:
        for block in level[first_new:]:
            nn.init.zeros_(block.conv2.conv.weight)
            nn.init.zeros_(block.conv2.conv.bias)
    return grown.train(model.training)


def _ramp(n: int, overlap: int) -> Tensor:
    """Blend weights along one axis: rising over the first `overlap`, falling over the last."""
    w = torch.ones(n)
    if overlap > 0:
        edge = (torch.arange(overlap) + 1) / (overlap + 1)
        w[:overlap] = torch.minimum(w[:overlap], edge)
        w[-overlap:] = torch.minimum(w[-overlap:], edge.flip(0))
    return w


def _tiled(
    fn: Callable[[Tensor], Tensor], x: Tensor, tile: int | None, step_div: int, scale: float
) -> Tensor:
    """Apply `fn` to overlapping spatial tiles of x and blend the outputs with linear ramps.

    `tile` is the tile size in x's pixels (None: no tiling); tiles start on multiples of
    `step_div` and overlap by a quarter; outputs are `scale` times the input size.
    """
    h, w = x.shape[-2:]
    if tile is None or (h <= tile and w <= tile):
        return fn(x)
    tile = max(step_div, tile // step_div * step_div)
    overlap = max(step_div, tile // 4 // step_div * step_div)
    starts = lambda n: sorted({min(s, max(n - tile, 0)) for s in range(0, n, tile - overlap)})  # noqa: E731
    out = weight = None
    for y0 in starts(h):
        for x0 in starts(w):
            piece = fn(x[..., y0 : y0 + tile, x0 : x0 + tile])
            ph, pw = piece.shape[-2:]
            ov = round(overlap * scale)
            wt = (
                _ramp(ph, ov if ph < round(h * scale) else 0)[:, None]
                * _ramp(pw, ov if pw < round(w * scale) else 0)[None]
            )
            wt = wt.to(piece)
            if out is None:
                out = piece.new_zeros(*piece.shape[:-2], round(h * scale), round(w * scale))
                weight = piece.new_zeros(round(h * scale), round(w * scale))
            oy, ox = round(y0 * scale), round(x0 * scale)
            out[..., oy : oy + ph, ox : ox + pw] += piece * wt
            weight[oy : oy + ph, ox : ox + pw] += wt
    return out / weight


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
