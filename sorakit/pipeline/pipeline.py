"""Text to video: text encoder, transformer, VAE, refiners and planner held together.

A model folder holds `pipeline.json` (`PipelineConfig`), `vae/` and `transformer/` (each
safetensors + JSON config), and optionally the cascade's refiners (`sorakit.cascade`): a
temporal and a spatial one, each possibly with a text-only twin that runs when there is no
plan. `TextToVideoPipeline.from_pretrained()` with no path loads the default model shipped in
the package. The prompting modes live in `sorakit.pipeline.modes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sorakit.cascade.stages import Canvas, choose_stages
from sorakit.device import autocast, resolve_device, resolve_dtype
from sorakit.models.dit import DiT
from sorakit.models.persist import WEIGHTS_NAME
from sorakit.models.text import TextEncoder
from sorakit.models.vae import CausalVAE
from sorakit.pipeline import modes
from sorakit.pipeline.config import (
    DISTILLED_FOLDER,
    REFINER_FOLDERS,
    TEXT_ONLY_FOLDERS,
    PipelineConfig,
    read_config,
    write_config,
)
from sorakit.pipeline.errors import GenerationError
from sorakit.pipeline.long import step_count as long_step_count
from sorakit.pipeline.output import GeneratedVideo
from sorakit.pipeline.parts import LazyModels
from sorakit.pipeline.provenance import file_sha256
from sorakit.pipeline.request import GenerationRequest, Settings, resolve
from sorakit.planner.policy import Planner, Reading

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "assets" / "default-model"


def _check_parts_fit(vae: CausalVAE, transformer: DiT, name: str = "the transformer") -> None:
    """A transformer (or refiner: `name`) trained on another latent space would generate
    noise, silently."""
    cfg = transformer.config
    if cfg.in_channels != vae.latent_channels:
        raise ValueError(
            f"{name} reads {cfg.in_channels} latent channels, the VAE makes "
            f"{vae.latent_channels}: they were not trained together"
        )
    for frames in (cfg.layout_frames, cfg.layout_kind_frames) if cfg.layout_channels else ():
        if frames not in (1, vae.temporal_factor):
            raise ValueError(
                f"{name}'s layout has {frames} frames per latent frame; the "
                f"VAE's latent frames hold {vae.temporal_factor}"
            )


def _check_distilled(vae: CausalVAE, model: DiT) -> None:
    """A distilled transformer must fit the VAE and be a flow map (read each step's size)."""
    _check_parts_fit(vae, model, "the distilled transformer")
    if not model.config.step_input:
        raise ValueError("the distilled transformer is not a flow map (no step input)")


def load_vae(path: str | Path | None = None) -> CausalVAE:
    """A VAE from a VAE folder, a model folder (its `vae/`), or None or "default" (the shipped
    default model's); raises ValueError naming the folder when none is there."""
    folder = DEFAULT_MODEL if path is None or str(path) == "default" else Path(path)
    if (folder / "vae").is_dir():
        folder = folder / "vae"
    try:
        return CausalVAE.from_pretrained(folder)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{folder}: not a VAE or model folder ({exc})") from None


def _checked_weights(folder: Path, part: str, expected: str | None) -> None:
    """GenerationError when `part`'s weights are missing or not the ones pipeline.json records
    (`expected`; None: not recorded, not checked)."""
    path = folder / part / WEIGHTS_NAME
    if expected is None:
        return
    if not path.is_file():
        raise GenerationError(f"{path}: missing")
    if file_sha256(path) != expected:
        raise GenerationError(
            f"{path}: its sha256 is not the one pipeline.json records; the file changed or is "
            "damaged"
        )


def _part_loader(folder: Path, part: str, config: PipelineConfig, what: str, vae: CausalVAE):
    """A loader of the transformer-like part `part` of a model folder, checking its weights and
    that it fits the VAE when called."""

    def load() -> DiT:
        _checked_weights(folder, part, config.weights_sha256.get(part))
        model = DiT.from_pretrained(folder / part)
        _check_parts_fit(vae, model, what)
        return model

    return load


def _lazy_refiners(folder: Path, folders: dict[str, str], config: PipelineConfig,
                   vae: CausalVAE, text_only: bool = False) -> LazyModels:  # fmt: skip
    """kind -> refiner, for each of `folders` (kind -> subfolder) that `folder` holds, each
    loaded when first used."""
    label = "text-only " if text_only else ""
    return LazyModels({
        kind: _part_loader(folder, sub, config, f"the {label}{kind} refiner", vae)
        for kind, sub in folders.items() if (folder / sub).exists()
    })  # fmt: skip


def _weights_sha256(folder: Path) -> dict[str, str]:
    """component subfolder -> sha256 of its weights file, for provenance."""
    return {p.parent.name: file_sha256(p) for p in sorted(folder.glob(f"*/{WEIGHTS_NAME}"))}


class TextToVideoPipeline:
    def __init__(
        self,
        vae: CausalVAE,
        transformer: DiT,
        text_encoder: TextEncoder,
        config: PipelineConfig,
        source: str = "",
        refiners: dict[str, DiT] | LazyModels | None = None,
        text_only_refiners: dict[str, DiT] | LazyModels | None = None,
        weights_sha256: dict[str, str] | None = None,
        distilled: DiT | None = None,
    ):
        """Refiners given as `LazyModels` are checked as they load; others here."""
        _check_parts_fit(vae, transformer)
        if distilled is not None:
            _check_distilled(vae, distilled)
        elif config.sampler == "distilled":
            raise ValueError("the model's default sampler is distilled, but it has no "
                             f"{DISTILLED_FOLDER}")  # fmt: skip
        for label, given in (("", refiners), ("text-only ", text_only_refiners)):
            if not isinstance(given, LazyModels):
                for kind, refiner in (given or {}).items():
                    _check_parts_fit(vae, refiner, f"the {label}{kind} refiner")
        for kind in text_only_refiners or {}:
            if kind not in (refiners or {}):
                raise ValueError(f"a text-only {kind} refiner needs a {kind} refiner beside it")
        self.vae, self.transformer, self.text_encoder = vae.eval(), transformer.eval(), text_encoder
        self.refiners = LazyModels.of(refiners)  # kind -> refiner
        # kind -> the refiner that runs instead when there is no plan
        self.text_only_refiners = LazyModels.of(text_only_refiners)
        # The few-step flow map the "distilled" sampler runs (`sorakit.train.distill`), if any.
        self.distilled = None if distilled is None else distilled.eval()
        self.config = config
        self.dtype = torch.float32  # the compute precision of generation (autocast)
        self.source = source  # the folder it was loaded from ("" in memory)
        self.weights_sha256 = dict(weights_sha256 or {})
        self.planner = Planner(text_encoder)

    # --- persistence ---
    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
    ) -> TextToVideoPipeline:
        """Load a model folder (None: the shipped default model) onto `device` (default: the
        CPU; "auto": CUDA, then MPS, then the CPU) to generate in `dtype` (`.to`).
        Each part's weights are checked against the sha256 pipeline.json records as it loads;
        the cascade's refiners load when first used."""
        folder = Path(path) if path is not None else DEFAULT_MODEL
        config = read_config(folder)
        recorded = config.weights_sha256
        for part in recorded:
            if not (folder / part / WEIGHTS_NAME).is_file():
                raise GenerationError(f"{folder / part / WEIGHTS_NAME}: missing")
        for part in ("vae", "transformer"):
            _checked_weights(folder, part, recorded.get(part))
        vae = CausalVAE.from_pretrained(folder / "vae")
        distilled = None
        if (folder / DISTILLED_FOLDER).exists():
            distilled = _part_loader(folder, DISTILLED_FOLDER, config,
                                     "the distilled transformer", vae)()  # fmt: skip
        return cls(
            vae,
            DiT.from_pretrained(folder / "transformer"),
            TextEncoder.from_pretrained(config.text_encoder, config.max_text_length),
            config,
            source=str(folder),
            refiners=_lazy_refiners(folder, REFINER_FOLDERS, config, vae),
            text_only_refiners=_lazy_refiners(folder, TEXT_ONLY_FOLDERS, config, vae, True),
            # Version 1 folders record none: hash them for provenance, once.
            weights_sha256=dict(recorded) or _weights_sha256(folder),
            distilled=distilled,
        ).to(device, dtype)

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.vae.save_pretrained(folder / "vae")
        self.transformer.save_pretrained(folder / "transformer")
        for kind, model in self.refiners.items():
            model.save_pretrained(folder / REFINER_FOLDERS[kind])
        for kind, model in self.text_only_refiners.items():
            model.save_pretrained(folder / TEXT_ONLY_FOLDERS[kind])
        if self.distilled is not None:
            self.distilled.save_pretrained(folder / DISTILLED_FOLDER)
        write_config(folder, replace(self.config, weights_sha256=_weights_sha256(folder)))

    def to(
        self, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None
    ) -> TextToVideoPipeline:
        """Every model onto `device` (None: where they are), generating in `dtype` (None: as
        before; bf16 or fp16 run under autocast, the weights stay fp32)."""
        if device is not None:
            device = resolve_device(device)
            for model in self.models():
                model.to(device)
            for lazy in (self.refiners, self.text_only_refiners):
                lazy.to(device)
            self.text_encoder.to(device)
        if dtype is not None:
            self.dtype = resolve_dtype(dtype)
        return self

    def models(self) -> list[torch.nn.Module]:
        """Every network of the pipeline loaded so far, but the text encoder."""
        extra = [] if self.distilled is None else [self.distilled]
        return [self.vae, self.transformer, *self.refiners.loaded(),
                *self.text_only_refiners.loaded(), *extra]  # fmt: skip

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    # --- what the model can do ---
    @property
    def size_multiple(self) -> int:
        return self.vae.spatial_factor * max(self.transformer.config.patch_size[1:])

    @property
    def reads_layout(self) -> bool:
        return self.transformer.config.layout_channels > 0

    def settings(self, request: GenerationRequest) -> Settings:
        """The request's numbers with the model's defaults filled in; GenerationError if the
        model cannot make them."""
        s = resolve(request, self.config, self.size_multiple, self.vae.temporal_factor)
        if s.sampler == "distilled" and self.distilled is None:
            raise GenerationError("this model has no distilled transformer: use the euler sampler")
        return s

    def sampling_transformer(self, s: Settings) -> DiT:
        """The network the settings' sampler runs: the distilled one or the full one."""
        return self.distilled if s.sampler == "distilled" else self.transformer

    def cascade_stages(self, s: Settings, spatial: bool = True, temporal: bool = True) -> list:
        """The refiners that run for `s`, in order (`sorakit.cascade.stages`)."""
        c = self.config
        return choose_stages(
            Canvas(s.width, s.height, s.frames, s.fps), Canvas(c.width, c.height, c.frames, c.fps),
            self.refiners, self.size_multiple, self.vae.temporal_factor, spatial, temporal,
        )  # fmt: skip

    def step_count(self, request: GenerationRequest) -> int:
        """How many times `generate(request, on_step)` calls `on_step`: for progress bars."""
        s = self.settings(request)
        runs = 2 if request.loop and request.image is None else 1  # a loop's start image first
        count = s.steps * (2 if s.sampler == "heun" else 1) * runs
        if request.mode == "text" and s.frames > self.config.max_frames:
            return long_step_count(count, s.frames, self.vae.temporal_factor, self.config.frames)
        if request.mode == "text":
            stages = self.cascade_stages(s, request.spatial_refiner, request.temporal_refiner)
            count += self.config.refiner_steps * len(stages)
        return count

    def refiner_for(self, kind: str, planned: bool) -> DiT:
        """The refiner of `kind` that runs with a plan or without one."""
        if not planned and kind in self.text_only_refiners:
            return self.text_only_refiners[kind]
        return self.refiners[kind]

    # --- generating ---
    def generate(
        self, request: GenerationRequest, on_step: Callable[[], None] | None = None
    ) -> GeneratedVideo:
        """The video `request` asks for; `on_step` is called after each model step."""
        settings = self.settings(request)
        with autocast(self.device, self.dtype):
            return modes.MODES[request.mode](self, request, settings, on_step)

    def __call__(self, prompt: str, **fields: Any) -> GeneratedVideo:
        """`generate` with the request's fields as keywords (and `on_step`)."""
        on_step = fields.pop("on_step", None)
        return self.generate(GenerationRequest.from_fields(prompt=prompt, **fields), on_step)

    def read_prompt(self, request: GenerationRequest) -> tuple[GenerationRequest, Reading | None]:
        """For a plain text-to-video request this model would plan: the prompt's reading, and
        the request to run. A prompt the world cannot show would give coloured noise, so it is
        replaced by the nearest prompt it can (`Reading.nearest`); other modes keep their prompt,
        as their input frames carry the scene. A request the model cannot make at all (a prompt
        without words, say) raises GenerationError first: it is refused, not replaced."""
        self.settings(request)
        if not (request.planning and self.reads_layout) or request.mode != "text" or request.plan:
            return request, None
        reading = self.planner.read(request.prompt)
        if reading.drawable:
            return request, reading
        return replace(request, prompt=reading.nearest[0]), reading

    def plan(self, request: GenerationRequest | str) -> dict[str, Any]:
        """The plan of a request's prompt at its settings (a prompt: at the model's defaults).
        Check `plan["understood"]` before relying on it; raises PlanError if nothing can be laid
        out."""
        if isinstance(request, str):
            request = GenerationRequest(prompt=request)
        s = self.settings(request)
        return self.planner.plan(s.prompt, s.width, s.height, s.fps, s.frames, s.seed)

    def refine_video(
        self, kind: str, frames: np.ndarray, fps: float, prompt: str = "", seed: int = 0,
        on_step: Callable[[], None] | None = None, plan: dict | None = None,
    ) -> GeneratedVideo:  # fmt: skip
        """`upscale` (kind "spatial") or `interpolate` (kind "temporal") a user's video
        (`sorakit.pipeline.modes.refine_video`)."""
        with autocast(self.device, self.dtype):
            return modes.refine_video(self, kind, frames, fps, prompt, seed, on_step, plan)


def install_distilled(folder: str | Path, student: str | Path, steps: int = 4) -> None:
    """Add the distilled transformer at `student` to the model folder `folder` and make the
    distilled sampler, at `steps` steps, its default; the other parts are left as they are."""
    folder = Path(folder)
    config = read_config(folder)
    model = DiT.from_pretrained(student)
    _check_distilled(load_vae(folder), model)  # before anything is written
    model.save_pretrained(folder / DISTILLED_FOLDER)
    config = replace(config, sampler="distilled", distilled_steps=steps,
                     weights_sha256=_weights_sha256(folder))  # fmt: skip
    write_config(folder, config)
