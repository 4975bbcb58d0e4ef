"""diffusers video VAEs behind sorakit's VAE interface, with tiny random models (offline)."""

from __future__ import annotations

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from sorakit.models.diffusers_vae import DiffusersVAE  # noqa: E402


def _tiny(kind: str):
    torch.manual_seed(0)
    if kind == "wan":
        return diffusers.AutoencoderKLWan(
            base_dim=8,
            z_dim=4,
            dim_mult=[1, 2, 2],
            num_res_blocks=1,
            temperal_downsample=[False, True],
            latents_mean=[0.1, -0.2, 0.3, 0.0],
            latents_std=[1.5, 2.0, 0.5, 1.0],
        )
    if kind == "cogvideox":
        return diffusers.AutoencoderKLCogVideoX(
            block_out_channels=(8, 16),
            down_block_types=("CogVideoXDownBlock3D",) * 2,
            up_block_types=("CogVideoXUpBlock3D",) * 2,
            latent_channels=4,
            layers_per_block=1,
            norm_num_groups=4,
            temporal_compression_ratio=2,
            scaling_factor=0.7,
        )
    return diffusers.AutoencoderKLLTXVideo(
        latent_channels=4,
        block_out_channels=(8, 16),
        decoder_block_out_channels=(8, 16),
        down_block_types=("LTXVideoDownBlock3D",) * 2,
        layers_per_block=(1, 1, 1),
        decoder_layers_per_block=(1, 1, 1),
        spatio_temporal_scaling=(True, False),
        decoder_spatio_temporal_scaling=(True, False),
        decoder_inject_noise=(False,) * 3,
        downsample_type=("conv", "conv"),
        upsample_residual=(False, False),
        upsample_factor=(1, 1),
        patch_size=2,
        scaling_factor=1.3,
    )


@pytest.mark.parametrize("kind", ["wan", "cogvideox", "ltx"])
@torch.no_grad()
def test_adapter_shapes_factors_and_normalisation(kind, tmp_path):
    raw = _tiny(kind)
    vae = DiffusersVAE(raw)
    tf, sf = vae.temporal_factor, vae.spatial_factor
    x = torch.rand(1, 3, 1 + 2 * tf, 4 * sf, 6 * sf) * 2 - 1
    z = vae.encode(x)
    assert z.shape == (1, vae.latent_channels, 3, 4, 6)
    # Normalisation is the inverse of what decode undoes: decoding equals the raw model's.
    expected = raw.decode(raw.encode(x).latent_dist.mode()).sample
    torch.testing.assert_close(vae.decode(z), expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="frames"):
        vae.encode(torch.rand(1, 3, 2 + tf, 4 * sf, 4 * sf))
    # And the save/load path of diffusers itself works offline.
    raw.save_pretrained(tmp_path / kind)
    kinds = {
        "wan": "AutoencoderKLWan",
        "cogvideox": "AutoencoderKLCogVideoX",
        "ltx": "AutoencoderKLLTXVideo",
    }
    again = DiffusersVAE.from_pretrained(str(tmp_path / kind), kind=kinds[kind])
    torch.testing.assert_close(again.encode(x), z)
