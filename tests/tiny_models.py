"""Tiny pipelines built in the tests: random weights, the real text encoder."""

from __future__ import annotations

import torch

from sorakit.models.dit import DIT_PRESETS, DiT
from sorakit.models.text import TextEncoder
from sorakit.models.vae import VAE_PRESETS, CausalVAE
from sorakit.pipeline import PipelineConfig, TextToVideoPipeline


def layout_pipeline(**config) -> TextToVideoPipeline:
    """A 16x16 pipeline whose transformer reads layouts, its weights nudged off their initial
    values so a layout changes what it makes; `config`: PipelineConfig fields over the defaults."""
    torch.manual_seed(0)
    dit = DiT(DIT_PRESETS["tiny"])
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    settings = PipelineConfig(**{"width": 16, "height": 16, "frames": 9, "steps": 2, **config})
    return TextToVideoPipeline(
        CausalVAE(VAE_PRESETS["tiny"]), dit, TextEncoder.from_pretrained("minilm"), settings
    )
