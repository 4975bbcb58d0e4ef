"""Where a video came from: the request, the model and its weights, and this sorakit."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sorakit


@dataclass(frozen=True)
class Provenance:
    """Written beside every output (NAME.json) and into an .mp4's metadata. Fields a mode does
    not use stay None and are left out of the record."""

    prompt: str
    mode: str
    model: str  # the model folder, or "in-memory"
    seed: int
    width: int
    height: int
    frames: int
    fps: float
    negative_prompt: str = ""
    steps: int | None = None
    guidance: float | None = None
    guidance_interval: list[float] | None = None
    shape_contrast: float | None = None
    sampler: str | None = None
    planned: bool | None = None
    cascade: list[str] | None = None  # the refiners that ran, in order
    text_only_refiners: list[str] | None = None  # those of them that ran without a plan
    strength: float | None = None  # video-to-video
    input_latent_frames: int | None = None  # extend: the given video's latent frames
    middle_latent_frames: int | None = None  # connect: the generated latent frames
    input_frames: int | None = None  # upscale / interpolate: the given video's frames
    training_step: int | None = None  # a sample video made during training
    windows: int | None = None  # a long video: the windows it was made in
    context_latent_frames: int | None = None  # a long video: latent frames each window is given
    generator: str = "sorakit"
    sorakit_version: str = sorakit.__version__
    weights_sha256: dict[str, str] = field(default_factory=dict)  # component -> file digest

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
