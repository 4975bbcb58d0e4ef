"""A 3D patch discriminator for adversarial VAE training: one realness score per spacetime patch."""

from __future__ import annotations

from torch import Tensor, nn


class PatchDiscriminator3D(nn.Module):
    def __init__(self, channels: int = 32, layers: int = 3, in_channels: int = 3):
        super().__init__()
        blocks: list[nn.Module] = [
            nn.Conv3d(in_channels, channels, (3, 4, 4), (1, 2, 2), (1, 1, 1))
        ]
        c = channels
        for _ in range(layers - 1):
            blocks += [
                nn.LeakyReLU(0.2),
                nn.Conv3d(c, 2 * c, (3, 4, 4), (1, 2, 2), (1, 1, 1)),
                nn.GroupNorm(8, 2 * c),
            ]
            c *= 2
        blocks += [nn.LeakyReLU(0.2), nn.Conv3d(c, 1, 3, padding=1)]
        self.net = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> (B, 1, T, H / 2^layers, W / 2^layers) logits."""
        return self.net(x)
