"""Losses for the video VAE: pixel L1, a structural (SSIM) term, KL, and hinge adversarial."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor


def _gaussian_window(size: int = 7, sigma: float = 1.5) -> Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]  # (size, size)


def ssim(a: Tensor, b: Tensor, data_range: float = 2.0) -> Tensor:
    """Mean SSIM over frames of videos (B, C, T, H, W) whose values span `data_range`.

    Computed per frame with a 7x7 Gaussian window (sigma 1.5), reflect-padded so that small
    frames keep their borders.
    """
    a2 = rearrange(a.float(), "b c t h w -> (b t) c h w")
    b2 = rearrange(b.float(), "b c t h w -> (b t) c h w")
    c = a2.shape[1]
    window = _gaussian_window().to(a2)[None, None].repeat(c, 1, 1, 1)
    pad = window.shape[-1] // 2

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(F.pad(x, (pad,) * 4, mode="reflect"), window, groups=c)

    mu_a, mu_b = blur(a2), blur(b2)
    var_a = blur(a2 * a2) - mu_a**2
    var_b = blur(b2 * b2) - mu_b**2
    cov = blur(a2 * b2) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    score = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return score.mean()


def psnr(a: Tensor, b: Tensor, data_range: float = 2.0) -> Tensor:
    """PSNR in dB of videos in a range of width `data_range` (2 for [-1, 1])."""
    mse = (a.float() - b.float()).pow(2).mean().clamp_min(1e-12)
    return 10 * torch.log10(data_range**2 / mse)


def edge_l1(a: Tensor, b: Tensor) -> Tensor:
    """Mean absolute difference of the spatial gradients of two (..., H, W) tensors: the
    gradient difference loss of Mathieu et al. (2016). A small object's outline is a few pixels
    of a frame, so pixel losses barely see it blurred into a block; this term does."""

    def grads(x: Tensor) -> tuple[Tensor, Tensor]:
        return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]

    (ay, ax), (by, bx) = grads(a), grads(b)
    return (ay - by).abs().mean() + (ax - bx).abs().mean()


def hinge_discriminator(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_generator(fake: Tensor) -> Tensor:
    return -fake.mean()
