"""Pretrained video VAEs from diffusers as sorakit's compression network.

`DiffusersVAE` wraps AutoencoderKLWan, AutoencoderKLCogVideoX or AutoencoderKLLTXVideo behind
the interface of `CausalVAE`: `encode` returns normalised latent means (B, C, t, h, w), `decode`
takes them back to videos in [-1, 1], and `spatial_factor`, `temporal_factor` and
`latent_channels` describe the latent grid. Each family normalises its latents differently; the
adapter folds that into one per-channel shift and scale, as `CausalVAE` stores its own.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

KINDS = ("AutoencoderKLWan", "AutoencoderKLCogVideoX", "AutoencoderKLLTXVideo")


def _factors(vae: nn.Module) -> tuple[int, int]:
    """(spatial, temporal) compression, from the model's own configuration."""
    cfg, kind = vae.config, type(vae).__name__
    if kind == "AutoencoderKLWan":
        return 2 ** (len(cfg.dim_mult) - 1), 2 ** sum(cfg.temperal_downsample)
    if kind == "AutoencoderKLCogVideoX":
        return 2 ** (len(cfg.block_out_channels) - 1), int(cfg.temporal_compression_ratio)
    return int(vae.spatial_compression_ratio), int(vae.temporal_compression_ratio)


def _normalisation(vae: nn.Module, channels: int) -> tuple[Tensor, Tensor]:
    """(shift, scale) with normalised = (raw - shift) / scale, per channel."""
    cfg, kind = vae.config, type(vae).__name__
    ones, zeros = torch.ones(channels), torch.zeros(channels)
    if kind == "AutoencoderKLWan":
        return torch.tensor(cfg.latents_mean).float(), torch.tensor(cfg.latents_std).float()
    if kind == "AutoencoderKLCogVideoX":
        shift = zeros if cfg.shift_factor is None else zeros + cfg.shift_factor
        return shift, ones / cfg.scaling_factor
    mean, std = vae.latents_mean.float().cpu(), vae.latents_std.float().cpu()
    return mean, std / cfg.scaling_factor


class DiffusersVAE(nn.Module):
    def __init__(self, vae: nn.Module):
        super().__init__()
        kind = type(vae).__name__
        if kind not in KINDS:
            raise ValueError(f"unsupported diffusers VAE {kind}; supported: {', '.join(KINDS)}")
        self.vae = vae.eval()
        self.kind = kind
        self.spatial_factor, self.temporal_factor = _factors(vae)
        self.latent_channels = int(
            vae.config.latent_channels if kind != "AutoencoderKLWan" else vae.config.z_dim
        )
        shift, scale = _normalisation(vae, self.latent_channels)
        self.register_buffer("latent_shift", shift)
        self.register_buffer("latent_scale", scale)

    @classmethod
    def from_pretrained(cls, path: str, kind: str = "AutoencoderKLWan", **kwargs) -> DiffusersVAE:
        """Load with diffusers' own `from_pretrained` (a local folder or a hub name; pass
        `subfolder="vae"` for a full pipeline repository). Only safetensors weights load: any
        other format is a pickle."""
        import diffusers

        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        loader = getattr(diffusers, kind).from_pretrained
        return cls(loader(path, **{**kwargs, "use_safetensors": True}))

    def _check(self, frames: int, height: int, width: int) -> None:
        tf, sf = self.temporal_factor, self.spatial_factor
        if frames < 1 or (frames - 1) % tf:
            raise ValueError(f"{self.kind} needs 1 + {tf}k frames, got {frames}")
        if height % sf or width % sf:
            raise ValueError(
                f"{self.kind} needs sizes that are multiples of {sf}, got {width}x{height}"
            )

    def _view(self, t: Tensor) -> Tensor:
        return t.view(1, -1, 1, 1, 1)

    def encode(self, x: Tensor, chunk: int | None = None, tile: int | None = None) -> Tensor:
        """Normalised latent means of videos (B, 3, T, H, W) in [-1, 1].

        diffusers VAEs chunk long videos internally; `tile` switches on their spatial tiling.
        """
        self._check(*x.shape[2:])
        if tile is not None:
            self.vae.enable_tiling()
        raw = self.vae.encode(x.to(self.vae.dtype)).latent_dist.mode().float()
        return (raw - self._view(self.latent_shift)) / self._view(self.latent_scale)

    def decode(self, z: Tensor, chunk: int | None = None, tile: int | None = None) -> Tensor:
        if tile is not None:
            self.vae.enable_tiling()
        raw = z * self._view(self.latent_scale) + self._view(self.latent_shift)
        return self.vae.decode(raw.to(self.vae.dtype)).sample.float()
