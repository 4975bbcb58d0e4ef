"""Text to video: text encoder, transformer, VAE and sampler composed into one callable.

A pipeline folder holds `pipeline.json` (this module's `PipelineConfig`), `vae/` and
`transformer/` (each safetensors + JSON config). `TextToVideoPipeline.from_pretrained()` with no
path loads the default model shipped inside the package.

Every prompting mode works in latent space, the way the transformer was trained: frames given
by the user are encoded and held clean at t = 0 while the rest is generated.
- text-to-video / text-to-image (frames = 1);
- image-to-video: the image is the first latent frame;
- extend forward: the video's latents are the prefix; extend backward: its latents after the
  first (each covering `temporal_factor` frames) are the suffix, so its first frame is replaced;
- loop: the first frame is given at both ends (held over the last latent frame), and those last
  frames, which repeat the start, are dropped;
- connect A B: A's latents as prefix, B's (after its first) as suffix, the middle generated;
- video-to-video (SDEdit): the video's latents noised to t = strength, then denoised.

The cascade (`sorakit.cascade`): a model folder may hold a temporal and a spatial refiner.
Text-to-video then runs the base at half the frame rate and half the size, the temporal refiner
doubles the frame rate, the spatial refiner the size, so the result has the requested size,
rate and length (a flag turns each stage off; the base then makes that part itself). Each
refiner also runs alone on a user's video (`upscale`, `interpolate`).

Planning (`sorakit.planner`): with a transformer that reads layout maps, text-to-video and
text-to-image first parse the prompt; when every part of it is understood, the scene is laid
out and simulated into per-frame boxes (a plan), and the transformer renders that layout. A
plan can also be given (`plan=`), e.g. one edited by hand or written by another planner.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sorakit.data.layout import BoxTrack, box_track, contrast_track, layout_map
from sorakit.data.transforms import (
    from_model_tensor,
    resample_indices,
    resize_and_crop,
    to_model_tensor,
)
from sorakit.diffusion import check_guidance_interval
from sorakit.diffusion.denoise import generate_latents
from sorakit.fileio import atomic_write
from sorakit.models.dit import DiT
from sorakit.models.text import TextEncoder
from sorakit.models.vae import CausalVAE

logger = logging.getLogger(__name__)

CONFIG_NAME = "pipeline.json"
REFINER_FOLDERS = {"temporal": "temporal_refiner", "spatial": "spatial_refiner"}
# Beside a refiner that reads plans, a model may hold one for generation without a plan
# (`interpolate` on a user's video, text-only prompts): one refiner serving both modes trades
# one for the other (BENCHMARKS.md, "The cascade").
TEXT_ONLY_FOLDERS = {kind: f"{folder}_text_only" for kind, folder in REFINER_FOLDERS.items()}
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "assets" / "default-model"


class GenerationError(ValueError):
    """A request the model cannot serve (size, frame count, steps...): one line for the user."""


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
    sampler: str = "euler"
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


@dataclass
class GeneratedVideo:
    """uint8 frames (T, H, W, 3), their frame rate and how they were made."""

    frames: np.ndarray
    fps: float
    provenance: dict[str, Any]
    plan: dict[str, Any] | None = None  # the layout it was generated from, if planned

    def save(self, path: str | Path) -> Path:
        """Write .mp4 (H.264, provenance in its metadata), .gif, or .png (one image, or
        NAME_0000.png... for a video), plus a sidecar NAME.json with the provenance."""
        from sorakit.data.video import write_video

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = path.suffix.lower()
        record = json.dumps(self.provenance, sort_keys=True)
        if suffix == ".mp4":
            frames, meta = _even(self.frames), {"comment": record}
            atomic_write(path, lambda p: write_video(p, frames, self.fps, metadata=meta))
        elif suffix == ".gif":
            from PIL import Image

            images = [Image.fromarray(f) for f in self.frames]
            atomic_write(
                path,
                lambda p: images[0].save(
                    p, format="GIF", save_all=True, append_images=images[1:],
                    duration=round(1000 / self.fps), loop=0,
                ),
            )  # fmt: skip
        elif suffix == ".png":
            from PIL import Image

            if len(self.frames) == 1:
                atomic_write(path, lambda p: Image.fromarray(self.frames[0]).save(p, "PNG"))
            else:
                for i, frame in enumerate(self.frames):
                    target = path.with_name(f"{path.stem}_{i:04d}.png")
                    atomic_write(target, lambda p, f=frame: Image.fromarray(f).save(p, "PNG"))
        else:
            raise GenerationError(f"{path}: unknown output type; use .mp4, .gif or .png")
        sidecar = path.with_suffix(".json")
        atomic_write(sidecar, lambda p: p.write_text(json.dumps(self.provenance, indent=1)))
        return path


def _even(frames: np.ndarray) -> np.ndarray:
    """H.264 needs even sides: pad odd ones by repeating the last row/column."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if not (pad_h or pad_w):
        return frames
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


@dataclass
class Request:
    """One generation, validated."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    frames: int
    fps: float
    steps: int
    guidance: float
    guidance_interval: tuple[float, float] | None  # None: the model's, for planned or not
    shape_contrast: float  # used when there is a plan
    seed: int
    sampler: str


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


def _load_refiners(folder: Path, folders: dict[str, str]) -> dict[str, DiT]:
    """kind -> refiner, for each of `folders` (kind -> subfolder) that `folder` holds."""
    return {
        kind: DiT.from_pretrained(folder / sub)
        for kind, sub in folders.items()
        if (folder / sub).exists()
    }


class TextToVideoPipeline:
    def __init__(
        self,
        vae: CausalVAE,
        transformer: DiT,
        text_encoder: TextEncoder,
        config: PipelineConfig,
        source: str = "",
        refiners: dict[str, DiT] | None = None,
        text_only_refiners: dict[str, DiT] | None = None,
    ):
        _check_parts_fit(vae, transformer)
        for kind, refiner in (refiners or {}).items():
            _check_parts_fit(vae, refiner, f"the {kind} refiner")
        for kind, refiner in (text_only_refiners or {}).items():
            if kind not in (refiners or {}):
                raise ValueError(f"a text-only {kind} refiner needs a {kind} refiner beside it")
            _check_parts_fit(vae, refiner, f"the text-only {kind} refiner")
        self.vae, self.transformer, self.text_encoder = vae.eval(), transformer.eval(), text_encoder
        self.refiners = {k: m.eval() for k, m in (refiners or {}).items()}  # kind -> refiner
        # kind -> the refiner that runs instead when there is no plan
        self.text_only_refiners = {k: m.eval() for k, m in (text_only_refiners or {}).items()}
        self.config = config
        self.source = source
        self._substituter = None  # built on first use: it embeds the world's words once

    # --- persistence ---
    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> TextToVideoPipeline:
        """Load a pipeline folder; None loads the shipped default model."""
        folder = Path(path) if path is not None else DEFAULT_MODEL
        try:
            raw = json.loads((folder / CONFIG_NAME).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise GenerationError(f"{folder}: not a sorakit model folder ({exc})") from None
        raw["vocabulary"] = tuple(raw.get("vocabulary", ()))
        for key in ("guidance_interval", "plan_guidance_interval", "shape_contrast_interval"):
            if raw.get(key) is not None:
                raw[key] = tuple(raw[key])
        config = PipelineConfig(**raw)
        vae = CausalVAE.from_pretrained(folder / "vae")
        transformer = DiT.from_pretrained(folder / "transformer")
        refiners = _load_refiners(folder, REFINER_FOLDERS)
        text_only = _load_refiners(folder, TEXT_ONLY_FOLDERS)
        encoder = TextEncoder.from_pretrained(config.text_encoder, config.max_text_length)
        return cls(vae, transformer, encoder, config, source=str(folder), refiners=refiners,
                   text_only_refiners=text_only)  # fmt: skip

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.vae.save_pretrained(folder / "vae")
        self.transformer.save_pretrained(folder / "transformer")
        for kind, model in self.refiners.items():
            model.save_pretrained(folder / REFINER_FOLDERS[kind])
        for kind, model in self.text_only_refiners.items():
            model.save_pretrained(folder / TEXT_ONLY_FOLDERS[kind])
        text = json.dumps(asdict(self.config), indent=1)
        atomic_write(folder / CONFIG_NAME, lambda p: p.write_text(text))

    # --- checks ---
    @property
    def size_multiple(self) -> int:
        return self.vae.spatial_factor * max(self.transformer.config.patch_size[1:])

    def unknown_words(self, prompt: str) -> list[str]:
        if not self.config.vocabulary:
            return []
        known = set(self.config.vocabulary)
        return [w for w in re.findall(r"[a-z]+", prompt.lower()) if w not in known]

    def request(self, prompt: str, **kw) -> Request:
        c = self.config

        def pick(name: str, default):
            value = kw.get(name)
            return default if value is None else value

        r = Request(
            prompt=prompt,
            negative_prompt=pick("negative_prompt", ""),
            width=pick("width", c.width),
            height=pick("height", c.height),
            frames=pick("frames", c.frames),
            fps=pick("fps", c.fps),
            steps=pick("steps", c.steps),
            guidance=pick("guidance", c.guidance),
            guidance_interval=kw.get("guidance_interval"),
            shape_contrast=pick("shape_contrast", c.shape_contrast),
            seed=pick("seed", 0),
            sampler=pick("sampler", c.sampler),
        )
        self.check(r)
        return r

    def check(self, r: Request) -> None:
        """Raise GenerationError, with one line, for anything the model cannot make."""
        if not r.prompt.strip():
            raise GenerationError("the prompt is empty")
        m, tf = self.size_multiple, self.vae.temporal_factor
        for name, side in (("width", r.width), ("height", r.height)):
            if side < m or side % m or side > self.config.max_side:
                raise GenerationError(
                    f"{name} {side} is not possible: use a multiple of {m} "
                    f"from {m} to {self.config.max_side}"
                )
        if r.frames < 1 or (r.frames - 1) % tf or r.frames > self.config.max_frames:
            raise GenerationError(
                f"{r.frames} frames is not possible: use 1 (an image) or 1 + {tf}k "
                f"({1 + tf}, {1 + 2 * tf}, ...) up to {self.config.max_frames}"
            )
        if not 1 <= r.steps <= 1000:
            raise GenerationError(f"steps must be from 1 to 1000, got {r.steps}")
        if not 0 < r.fps <= 120:
            raise GenerationError(f"fps must be in (0, 120], got {r.fps}")
        if r.guidance < 0:
            raise GenerationError(f"guidance must be >= 0, got {r.guidance}")
        if r.shape_contrast < 0:
            raise GenerationError(f"shape contrast must be >= 0, got {r.shape_contrast}")
        if r.guidance_interval is not None:
            try:
                check_guidance_interval(r.guidance_interval)
            except ValueError as err:
                raise GenerationError(str(err)) from None
        if r.sampler not in ("euler", "heun"):
            raise GenerationError(f"sampler must be euler or heun, got {r.sampler!r}")

    # --- building blocks ---
    def encode_text(self, prompts: list[str]) -> list[Tensor]:
        hidden, mask = self.text_encoder.encode(prompts)
        return [h[m] for h, m in zip(hidden, mask, strict=True)]

    def prepare_frames(
        self, frames: np.ndarray, r: Request, source_fps: float | None
    ) -> np.ndarray:
        """User frames (T, H, W, 3) uint8 at `source_fps` -> the frames the model sees: at the
        request's size and frame rate, the count cut to 1 + k * temporal_factor."""
        if source_fps and len(frames) > 1:
            times = np.arange(len(frames)) / source_fps
            count = int(times[-1] * r.fps) + 1
            frames = frames[resample_indices(times, r.fps, count)]
        tf = self.vae.temporal_factor
        frames = frames[: 1 + (len(frames) - 1) // tf * tf]
        return resize_and_crop(frames, r.height, r.width)

    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray, r: Request, source_fps: float | None) -> Tensor:
        """User frames -> latents (1, C, t, h, w), as `prepare_frames` fits them."""
        video = to_model_tensor(self.prepare_frames(frames, r, source_fps))
        return self.vae.encode(video[None])

    @torch.no_grad()
    def decode(self, latents: Tensor) -> np.ndarray:
        video = self.vae.decode(latents, chunk=4).clamp(-1, 1)
        return from_model_tensor(video[0]).numpy()

    def guidance_interval(self, r: Request, planned: bool) -> tuple[float, float]:
        """The request's guidance interval, or the model's for planned or text-only generation."""
        c = self.config
        if r.guidance_interval is not None:
            return tuple(r.guidance_interval)
        return (
            c.plan_guidance_interval
            if planned and c.plan_guidance_interval
            else c.guidance_interval
        )

    @torch.no_grad()
    def sample(
        self,
        r: Request,
        latent_frames: int,
        given: Tensor | None = None,
        given_frames: Tensor | None = None,
        init: Tensor | None = None,
        strength: float = 1.0,
        plan: dict | None = None,
        on_step: Callable[[], None] | None = None,
    ) -> Tensor:
        """Latents (1, C, latent_frames, h, w) for the request, following `plan`'s layout
        when given."""
        sf = self.vae.spatial_factor
        shape = (1, self.vae.latent_channels, latent_frames, r.height // sf, r.width // sf)
        g = torch.Generator().manual_seed(r.seed)
        noise = torch.randn(shape, generator=g)
        texts = self.encode_text([r.prompt])
        uncond = self.encode_text([r.negative_prompt]) if r.guidance != 1.0 else []
        layout = self._layout(plan, self.transformer, shape[2:], r.fps)
        swapped = None  # the contrast layout, built only when shape contrast is asked for
        if layout is not None and r.shape_contrast:
            swapped = self._layout(
                plan, self.transformer, shape[2:], r.fps, lambda t: contrast_track(t, shape[3:])
            )
            if torch.equal(swapped, layout):
                swapped = None  # no small still disc in the plan: no third pass
        return generate_latents(
            self.transformer, noise, texts, uncond, r.fps, steps=r.steps, guidance=r.guidance,
            guidance_interval=self.guidance_interval(r, layout is not None), sampler=r.sampler,
            given=given, given_frames=given_frames, init=init, strength=strength, layout=layout,
            contrast_layout=swapped, contrast=r.shape_contrast,
            contrast_interval=self.config.shape_contrast_interval, on_step=on_step,
        )  # fmt: skip

    def _layout(
        self,
        plan: dict | None,
        model: DiT,
        latent_shape: tuple[int, ...],
        fps: float,
        edit: Callable[[BoxTrack], BoxTrack] | None = None,
    ) -> Tensor | None:
        """`plan`'s layout maps (1, S, T, H, W) in `model`'s format on a latent grid of
        `latent_shape` (T, H, W) at `fps`, its box track changed by `edit` first if given;
        None without a plan."""
        if plan is None:
            return None
        track = box_track(plan) if edit is None else edit(box_track(plan))
        fmt = model.config.layout_format
        return layout_map(track, latent_shape, fps, self.vae.temporal_factor, **fmt)[None]

    # --- planning ---
    @property
    def reads_layout(self) -> bool:
        return self.transformer.config.layout_channels > 0

    def plan(self, prompt: str, r: Request | None = None, **options) -> dict:
        """The plan of `prompt` for a request (or for `options` as in `__call__`): the parse,
        and, when the scene could be laid out, its simulated per-frame boxes. Check
        `plan["understood"]` before relying on it; raises PlanError if nothing can be laid
        out."""
        from sorakit.planner import make_plan

        r = r or self.request(prompt, **options)
        return make_plan(self._parse(prompt), r.width, r.height, r.fps, r.frames, seed=r.seed)

    def _parse(self, prompt: str):
        from sorakit.planner import Substituter, parse

        if self._substituter is None:
            self._substituter = Substituter(self.text_encoder)
        return parse(prompt, self._substituter)

    def _auto_plan(
        self, r: Request, context: np.ndarray | None = None, frames: int | None = None
    ) -> dict | None:
        """A plan when the model reads layouts and the prompt is understood whole; None
        (text-only generation) otherwise, with the reason logged. With `context` (the given
        first frames, as the model sees them) the plan continues them for `frames` frames."""
        from sorakit.planner import PlanError, make_plan
        from sorakit.planner.from_frames import plan_from_frames

        if not self.reads_layout:
            return None
        parsed = self._parse(r.prompt)
        if not parsed.understood:
            logger.info("not planning: could not place %s", ", ".join(parsed.unplaced))
            return None
        try:
            if context is None:
                return make_plan(parsed, r.width, r.height, r.fps, r.frames, seed=r.seed)
            return plan_from_frames(parsed, context, r.fps, frames)
        except PlanError as err:
            logger.info("not planning: %s", err)
            return None

    def _video(self, latents: Tensor, r: Request, mode: str, **extra) -> GeneratedVideo:
        frames = self.decode(latents)
        record = {
            "prompt": r.prompt, "negative_prompt": r.negative_prompt, "seed": r.seed,
            "mode": mode, "model": self.source or "in-memory", "width": r.width,
            "height": r.height, "frames": int(frames.shape[0]), "fps": r.fps,
            "steps": r.steps, "guidance": r.guidance,
            "guidance_interval": list(self.guidance_interval(r, extra.get("planned", False))),
            "shape_contrast": r.shape_contrast if extra.get("planned", False) else 0.0,
            "sampler": r.sampler,
            "generator": "sorakit",
            **extra,
        }  # fmt: skip
        return GeneratedVideo(frames, r.fps, record)

    def latent_frames(self, frames: int) -> int:
        return 1 + (frames - 1) // self.vae.temporal_factor

    # --- modes ---
    def __call__(
        self,
        prompt: str,
        *,
        image: np.ndarray | None = None,
        video: np.ndarray | None = None,
        video_fps: float | None = None,
        extend: str | None = None,
        loop: bool = False,
        strength: float | None = None,
        connect: tuple[tuple[np.ndarray, float | None], tuple[np.ndarray, float | None]]
        | None = None,
        plan: dict | bool | None = None,
        spatial: bool = True,
        temporal: bool = True,
        on_step: Callable[[], None] | None = None,
        **options,
    ) -> GeneratedVideo:
        """Generate a video. `options`: negative_prompt, width, height, frames, fps, steps,
        guidance, guidance_interval (None: the model's, planned or not), shape_contrast (used
        with a plan), seed, sampler. With `image` (H, W, 3) uint8: image-to-video. With
        `video` (T, H, W, 3) uint8 at `video_fps`: `extend` ("forward"/"backward") or
        `strength` (SDEdit). `loop`: a seamless loop. `connect`: two (frames, fps) videos to
        join. `plan` (text-to-video and text-to-image): a plan dict to render (its canvas
        gives the defaults of width, height, fps and frames), True/None to plan the prompt
        when it is understood whole, False for text-only generation. `spatial` /
        `temporal`: run that cascade refiner, when the model has it (text-to-video and
        text-to-image)."""
        if isinstance(plan, dict):
            options = with_plan_defaults(options, plan)
        r = self.request(prompt, **options)
        modes = [image is not None and not loop, extend is not None, strength is not None,
                 connect is not None, loop]  # fmt: skip
        if sum(modes) > 1:
            raise GenerationError("choose one mode: image, extend, strength (edit), loop, connect")
        if extend is not None:
            return self._extend(r, video, video_fps, extend, plan is not False, on_step)
        if strength is not None:
            return self._edit(r, video, video_fps, strength, on_step)
        if connect is not None:
            return self._connect(r, connect, on_step)
        if loop:
            return self._loop(r, image, on_step)
        if image is not None:
            first = self.encode_frames(image[None], r, None)
            n = self.latent_frames(r.frames)
            given, mask = _given(n, start=first)
            latents = self.sample(r, n, given, mask, on_step=on_step)
            return self._video(latents, r, "image-to-video")
        stages = self.cascade_stages(r, spatial, temporal)
        base = self.base_request(r, stages)
        if plan is not False and not isinstance(plan, dict):
            # Planned at the final size and rate: one simulation serves every stage (a plan's
            # boxes are in canvas fractions and its frames sample one continuous run).
            plan = self._auto_plan(r)
        if isinstance(plan, dict) and not self.reads_layout:
            raise GenerationError("this model does not read layouts: it cannot render a plan")
        plan = plan or None
        latents = self.sample(base, self.latent_frames(base.frames), plan=plan, on_step=on_step)
        for kind in stages:
            latents = self.refine(latents, kind, r, plan=plan, on_step=on_step)
        mode = "text-to-image" if r.frames == 1 else "text-to-video"
        text_only = [k for k in stages if self._runs_text_only(k, plan)]
        video = self._video(latents, r, mode, planned=plan is not None, cascade=list(stages),
                            text_only_refiners=text_only)  # fmt: skip
        video.plan = plan
        return video

    # --- the cascade ---
    def cascade_stages(self, r: Request, spatial: bool = True, temporal: bool = True) -> list:
        """The refiners that will run for `r`, in order: temporal, then spatial. The model's
        default size and frame rate (`PipelineConfig`) are the base's own: a stage runs when
        the model has it, it is not turned off, the request asks for at least twice the base's
        frame rate (temporal) or size (spatial), and it halves evenly (latent frames 2k - 1
        with k >= 2; sides into multiples of the model's step)."""
        c, m, stages = self.config, self.size_multiple, []
        n = self.latent_frames(r.frames)
        if temporal and "temporal" in self.refiners and r.fps >= 2 * c.fps and n >= 3 and n % 2:
            stages.append("temporal")
        larger = r.width >= 2 * c.width or r.height >= 2 * c.height
        halves = r.width % (2 * m) == 0 and r.height % (2 * m) == 0
        if spatial and "spatial" in self.refiners and larger and halves:
            stages.append("spatial")
        return stages

    def base_request(self, r: Request, stages: list) -> Request:
        """The request the base model serves before `stages` refine it."""
        if "temporal" in stages:
            n = (self.latent_frames(r.frames) + 1) // 2
            r = replace(r, frames=1 + (n - 1) * self.vae.temporal_factor, fps=r.fps / 2)
        if "spatial" in stages:
            r = replace(r, width=r.width // 2, height=r.height // 2)
        return r

    @torch.no_grad()
    def refine(
        self,
        latents: Tensor,
        kind: str,
        r: Request,
        plan: dict | None = None,
        on_step: Callable[[], None] | None = None,
    ) -> Tensor:
        """One cascade stage on latents (1, C, t, h, w); `r` gives the caption, the seed and
        the frame rate of the output (the spatial stage keeps the rate the temporal one made);
        `plan`, the layout a refiner that reads layouts follows."""
        video = self.vae.decode(latents, chunk=4).clamp(-1, 1)
        return self.refine_pixels(video, kind, r, plan, on_step)

    @torch.no_grad()
    def refine_pixels(
        self,
        video: Tensor,
        kind: str,
        r: Request,
        plan: dict | None = None,
        on_step: Callable[[], None] | None = None,
    ) -> Tensor:
        """One cascade stage on a video (1, 3, T, H, W) in [-1, 1]: refined latents."""
        from sorakit.cascade import refiner_input
        from sorakit.cascade.refine import DEFAULT_AUG, refine

        if kind not in self.refiners:
            raise GenerationError(f"this model has no {kind} refiner")
        text_only = self._runs_text_only(kind, plan)
        model = (self.text_only_refiners if text_only else self.refiners)[kind]
        cond = refiner_input(self.vae, video, kind)
        reads = model.config.layout_channels
        layout = self._layout(plan, model, cond.shape[2:], r.fps) if reads else None
        # No guidance: the input already carries the content, and one pass per step keeps
        # the refiners cheap.
        return refine(
            model, cond, self.encode_text([r.prompt]), [], r.fps,
            steps=self.config.refiner_steps, guidance=1.0,
            aug=self.config.refiner_aug.get(kind, DEFAULT_AUG),
            strength=self.config.refiner_strength.get(kind, 1.0), layout=layout, seed=r.seed,
            on_step=on_step,
        )  # fmt: skip

    def _runs_text_only(self, kind: str, plan: dict | None) -> bool:
        """Whether stage `kind` runs the model's text-only refiner: it has one, and no plan."""
        return plan is None and kind in self.text_only_refiners

    def refine_video(
        self,
        kind: str,
        frames: np.ndarray,
        fps: float,
        prompt: str = "",
        seed: int = 0,
        on_step: Callable[[], None] | None = None,
        plan: dict | None = None,
    ) -> GeneratedVideo:
        """Run one refiner on a user's video (T, H, W, 3) uint8: `upscale` (kind "spatial")
        or `interpolate` (kind "temporal"). The video keeps its size (cut to a multiple of the
        model's step) and frame count (cut to 1 + 4k). `plan`: a plan or world annotation of
        the output, for a refiner that reads layouts."""
        m, tf = self.size_multiple, self.vae.temporal_factor
        height, width = frames.shape[1] // m * m, frames.shape[2] // m * m
        if height < m or width < m:
            raise GenerationError(f"the video is smaller than the model's step ({m} pixels)")
        if kind == "temporal" and len(frames) < 1 + tf:
            raise GenerationError(f"interpolating needs at least {1 + tf} frames")
        r = Request(
            prompt=prompt or " ", negative_prompt="", width=width, height=height,
            frames=1 + (len(frames) - 1) // tf * tf, fps=fps, steps=self.config.refiner_steps,
            guidance=1.0, guidance_interval=None, shape_contrast=0.0, seed=seed, sampler="euler",
        )  # fmt: skip
        video = to_model_tensor(self.prepare_frames(frames, r, fps))[None]
        out_fps = fps * 2 if kind == "temporal" else fps
        latents = self.refine_pixels(video, kind, replace(r, fps=out_fps), plan, on_step)
        scale = 2 if kind == "spatial" else 1
        final = replace(r, width=width * scale, height=height * scale, fps=out_fps)
        return self._video(latents, final, f"refine-{kind}", input_frames=len(frames))

    def _need_video(self, video, what: str) -> None:
        if video is None or len(video) < 1:
            raise GenerationError(f"{what} needs an input video")

    def _extend(self, r, video, video_fps, direction, planning, on_step) -> GeneratedVideo:
        self._need_video(video, "extending")
        if direction not in ("forward", "backward"):
            raise GenerationError(f"extend must be forward or backward, got {direction!r}")
        context = self.prepare_frames(video, r, video_fps)
        z = self.vae.encode(to_model_tensor(context)[None])
        if direction == "backward":
            z = z[:, :, 1:]  # latents after the first cover whole frame groups
            if z.shape[2] == 0:
                raise GenerationError("extending backward needs at least 1 + 4k frames, k >= 1")
        new = self.latent_frames(r.frames)
        total = z.shape[2] + new - (1 if direction == "forward" else 0)
        ends = {"start": z} if direction == "forward" else {"end": z}
        given, mask = _given(total, **ends)
        plan = None
        if planning and direction == "forward":
            frames = 1 + (total - 1) * self.vae.temporal_factor
            plan = self._auto_plan(r, context=np.asarray(context), frames=frames)
        latents = self.sample(r, total, given, mask, plan=plan, on_step=on_step)
        video = self._video(latents, r, f"extend-{direction}", input_latent_frames=z.shape[2],
                            planned=plan is not None)  # fmt: skip
        video.plan = plan
        return video

    def _edit(self, r, video, video_fps, strength, on_step) -> GeneratedVideo:
        self._need_video(video, "editing")
        if not 0 < strength <= 1:
            raise GenerationError(f"strength must be in (0, 1], got {strength}")
        z = self.encode_frames(video, r, video_fps)
        latents = self.sample(r, z.shape[2], init=z, strength=strength, on_step=on_step)
        return self._video(latents, r, "video-to-video", strength=strength)

    def _connect(self, r, connect, on_step) -> GeneratedVideo:
        (a, a_fps), (b, b_fps) = connect
        self._need_video(a, "connecting")
        self._need_video(b, "connecting")
        za = self.encode_frames(a, r, a_fps)
        zb = self.encode_frames(b, r, b_fps)[:, :, 1:]
        if zb.shape[2] == 0:
            raise GenerationError("the second video needs at least 1 + 4k frames, k >= 1")
        middle = max(1, self.latent_frames(r.frames) - 1)
        total = za.shape[2] + middle + zb.shape[2]
        given, mask = _given(total, start=za, end=zb)
        latents = self.sample(r, total, given, mask, on_step=on_step)
        return self._video(latents, r, "connect", middle_latent_frames=middle)

    def _loop(self, r, image, on_step) -> GeneratedVideo:
        n = self.latent_frames(r.frames) + 1  # one extra latent frame: the start, held
        if n < 3:
            raise GenerationError("a loop needs at least 1 + 2 * temporal factor frames")
        if image is None:  # the start frame comes from a text-to-image run
            start = self.sample(r, 1, on_step=on_step)
            image = self.decode(start)[0]
        tf = self.vae.temporal_factor
        held = self.encode_frames(np.repeat(image[None], 1 + tf, axis=0), r, None)  # (z0, hold)
        given, mask = _given(n, start=held[:, :, :1], end=held[:, :, 1:2])
        latents = self.sample(r, n, given, mask, on_step=on_step)
        video = self._video(latents, r, "loop")
        video.frames = video.frames[:-tf]  # the held start: playback wraps to frame 0 instead
        video.provenance["frames"] = int(video.frames.shape[0])
        return video


def with_plan_defaults(options: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """Generation options with the plan's canvas (width, height, fps, frames) where unset."""
    scene = plan["scene"]
    defaults = {"width": int(scene["width"]), "height": int(scene["height"]),
                "fps": float(scene["fps"]), "frames": int(scene["num_frames"])}  # fmt: skip
    return {**options, **{k: v for k, v in defaults.items() if options.get(k) is None}}


def _given(
    total: int, start: Tensor | None = None, end: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Latents (1, C, total, h, w) holding `start` (1, C, k, h, w) at the beginning and/or `end`
    at the end, and the (total,) mask of those given frames."""
    some = start if start is not None else end
    given = torch.zeros(1, some.shape[1], total, *some.shape[3:])
    mask = torch.zeros(total, dtype=torch.bool)
    if start is not None:
        given[:, :, : start.shape[2]], mask[: start.shape[2]] = start, True
    if end is not None:
        given[:, :, -end.shape[2] :], mask[-end.shape[2] :] = end, True
    return given, mask


def sample_during_training(trainer) -> None:
    """Sample videos for the first two cached captions with the EMA weights, decoded with the
    cache's VAE, into OUT/samples/step-N/ (skipped with a log line if the VAE is gone)."""
    vae_path = trainer.data.meta.get("vae")
    if not vae_path or not trainer.info.main or not Path(vae_path).exists():
        logger.info("no VAE recorded in the cache: skipping sample videos")
        return
    vae = CausalVAE.from_pretrained(vae_path)
    folder = Path(trainer.config.out) / "samples" / f"step-{trainer.step:07d}"
    ema = trainer.ema.eval()
    for i in range(min(2, len(trainer.data))):
        latent, row = trainer.data[i]
        text = trainer.data.text.batch([row.caption])[0][0]
        noise = torch.randn((1, *latent.shape), generator=torch.Generator().manual_seed(i))
        z = generate_latents(
            ema, noise, [text], [trainer.null_text], row.fps, steps=20, guidance=3.0
        )
        frames = from_model_tensor(vae.decode(z).clamp(-1, 1)[0]).numpy()
        GeneratedVideo(frames, row.fps, {"prompt": row.caption, "step": trainer.step}).save(
            folder / f"{i:02d}.mp4"
        )
