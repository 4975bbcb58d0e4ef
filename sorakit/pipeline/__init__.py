"""Text to video: the pipeline that composes text encoder, transformer, VAE and sampler."""

from sorakit.pipeline.pipeline import (
    DEFAULT_MODEL,
    GeneratedVideo,
    GenerationError,
    PipelineConfig,
    TextToVideoPipeline,
    load_vae,
)

__all__ = [
    "DEFAULT_MODEL",
    "GeneratedVideo",
    "GenerationError",
    "PipelineConfig",
    "TextToVideoPipeline",
    "load_vae",
]
