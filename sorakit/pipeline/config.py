"""`pipeline.json`: a model folder's generation defaults and limits, versioned.

Version 1 files (no `schema_version`) hold the fields of version 2 but `weights_sha256` and are
read as such; a file from a newer sorakit, or with a field this version does not know, is
refused by name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sorakit.diffusion import check_guidance_interval
from sorakit.fileio import atomic_write
from sorakit.models.persist import parse_config
from sorakit.pipeline.errors import GenerationError

CONFIG_NAME = "pipeline.json"
SCHEMA_VERSION = 2
REFINER_FOLDERS = {"temporal": "temporal_refiner", "spatial": "spatial_refiner"}
# Beside a refiner that reads plans, a model may hold one for generation without a plan
# (`interpolate` on a user's video, text-only prompts): one refiner serving both modes trades
# one for the other (BENCHMARKS.md, "The cascade").
TEXT_ONLY_FOLDERS = {kind: f"{folder}_text_only" for kind, folder in REFINER_FOLDERS.items()}
# The transformer distilled into a few-step flow map with guidance built in
# (`sorakit.train.distill`), which the "distilled" sampler runs.
DISTILLED_FOLDER = "transformer_distilled"


@dataclass(frozen=True)
class PipelineConfig:
    text_encoder: str = "minilm"
    max_text_length: int = 32
    width: int = 64
    height: int = 64
    frames: int = 17
    fps: float = 8.0
    steps: int = 30
    guidance: float = 4.0
    # The times t where guidance applies; (0, 1) is everywhere (`sorakit.diffusion.guides_at`).
    guidance_interval: tuple[float, float] = (0.0, 1.0)
    # The same when a plan's layout is given (None: as without). The layout fixes where things
    # go, which is what guidance at high noise is for without one; with one it only overshoots.
    plan_guidance_interval: tuple[float, float] | None = None
    # With a plan holding a small, still disc, how hard such discs are pushed away from squares
    # (the plan with each swapped for a square, `sorakit.data.layout.contrast_track`) at the
    # times t in `shape_contrast_interval`: a third model pass there. 0: off. Without it the
    # transformer squares small discs off (BENCHMARKS.md, "Shape contrast").
    shape_contrast: float = 0.0
    shape_contrast_interval: tuple[float, float] = (0.0, 1.0)
    # The default sampler: "euler" or "heun" run `steps` steps of the transformer; "distilled"
    # runs `distilled_steps` of the distilled transformer, and a request for more steps than it
    # takes, or for euler or heun, runs the transformer as above.
    sampler: str = "euler"
    distilled_steps: int = 4
    refiner_steps: int = 10  # sampler steps of each cascade refiner
    # Where each refiner's sampler starts, by kind ("temporal", "spatial"): 1 (the default) is
    # pure noise, as the refiners train; below 1 it starts from its own input noised to that
    # time (SDEdit, as LTX-Video's refining stage does), keeping more of the stage's content.
    refiner_strength: dict[str, float] = field(default_factory=dict)
    # The noise level mixed into each refiner's input at sampling time, by kind (default
    # `sorakit.cascade.refine.DEFAULT_AUG`; trained on 0 to 0.5): higher trusts the input less,
    # and a refiner that reads the plan then follows the plan more.
    refiner_aug: dict[str, float] = field(default_factory=dict)
    max_frames: int = 65
    max_side: int = 512
    vocabulary: tuple[str, ...] = ()  # words of the training captions; others get a warning
    training: dict[str, Any] = field(default_factory=dict)  # the recipe, for provenance
    # component subfolder -> sha256 of its weights file, written by `save_pretrained` and
    # checked at load (empty: not checked, as in version 1 files).
    weights_sha256: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_per_kind("refiner_strength", self.refiner_strength, lambda v: 0 < v <= 1, "(0, 1]")
        _check_per_kind("refiner_aug", self.refiner_aug, lambda v: 0 <= v < 1, "[0, 1)")
        if self.shape_contrast < 0:
            raise ValueError(f"shape_contrast must be >= 0, got {self.shape_contrast}")
        check_guidance_interval(self.shape_contrast_interval)


def _check_per_kind(
    name: str, values: dict[str, float], ok: Callable[[float], bool], bounds: str
) -> None:
    """Each key a refiner kind, each value in `bounds` (`ok` tells)."""
    for kind, value in values.items():
        if kind not in REFINER_FOLDERS:
            raise ValueError(f"{name}: unknown refiner {kind!r}")
        if not ok(value):
            raise ValueError(f"{name}[{kind!r}] must be in {bounds}, got {value}")


def config_from_dict(raw: Any, where: str = CONFIG_NAME) -> PipelineConfig:
    """A `PipelineConfig` from parsed JSON of any schema version this sorakit reads."""
    if not isinstance(raw, dict):
        raise GenerationError(f"{where}: not a JSON object")
    version = raw.get("schema_version", 1)
    if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        raise GenerationError(
            f"{where}: schema_version {version!r} is not one this sorakit reads "
            f"(1 to {SCHEMA_VERSION}); a newer sorakit wrote it"
        )
    values = {**raw, "schema_version": SCHEMA_VERSION}  # version 1 differs only in lacking it
    try:
        return parse_config(PipelineConfig, values, where)
    except ValueError as exc:
        raise GenerationError(str(exc)) from None


def read_config(folder: Path) -> PipelineConfig:
    path = folder / CONFIG_NAME
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise GenerationError(f"{folder}: not a sorakit model folder ({exc})") from None
    except json.JSONDecodeError as exc:
        raise GenerationError(f"{path}: not valid JSON ({exc})") from None
    return config_from_dict(raw, str(path))


def write_config(folder: Path, config: PipelineConfig) -> None:
    text = json.dumps(asdict(config), indent=1)
    atomic_write(folder / CONFIG_NAME, lambda p: p.write_text(text))
