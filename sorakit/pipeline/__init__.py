"""Text to video: the pipeline that composes text encoder, transformer, VAE and sampler."""

from sorakit.pipeline.config import PipelineConfig
from sorakit.pipeline.errors import GenerationError
from sorakit.pipeline.output import GeneratedVideo
from sorakit.pipeline.pipeline import DEFAULT_MODEL, TextToVideoPipeline, load_vae
from sorakit.pipeline.provenance import Provenance
from sorakit.pipeline.request import GenerationRequest, Settings

__all__ = [
    "DEFAULT_MODEL",
    "GeneratedVideo",
    "GenerationError",
    "GenerationRequest",
    "PipelineConfig",
    "Provenance",
    "Settings",
    "TextToVideoPipeline",
    "load_vae",
]
