"""What a generation asks for (`GenerationRequest`) and the numbers it runs with (`Settings`).

A request names one prompting mode by the inputs it holds; fields it leaves None take the
model's defaults (`PipelineConfig`), or a given plan's canvas. Unknown fields and inputs that
no mode can use together are errors, never silence.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from sorakit.diffusion import check_guidance_interval
from sorakit.pipeline.config import PipelineConfig
from sorakit.pipeline.errors import GenerationError

Clip = tuple[np.ndarray, float | None]  # frames (T, H, W, 3) uint8 and their frame rate
MODES = ("text", "image", "extend", "edit", "connect", "loop")
SAMPLERS = ("euler", "heun", "distilled")
DISTILLED_MAX_STEPS = 4  # the distilled sampler was trained for 1, 2 and 4 steps
# What the distilled sampler has in its weights: settings it cannot take.
BUILT_IN = ("guidance", "guidance_interval", "shape_contrast")


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    """One generation. The mode follows from the inputs given:
    - text (text-to-video; text-to-image with frames = 1): none of the inputs below;
    - image: `image` (H, W, 3) uint8, the first frame;
    - extend: `video` at `video_fps`, continued `extend` = "forward" or "backward";
    - edit: `video` at `video_fps`, noised to t = `strength` and denoised (SDEdit);
    - connect: two clips, the middle generated;
    - loop: a seamless loop, from `image` when given.
    `plan` (text mode only) is a layout to render; `planning` plans understood prompts first
    (text and extend forward); the refiner flags turn cascade stages off (text mode)."""

    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    fps: float | None = None
    steps: int | None = None
    guidance: float | None = None
    guidance_interval: tuple[float, float] | None = None  # None: the model's, planned or not
    shape_contrast: float | None = None  # used when there is a plan
    sampler: str | None = None
    image: np.ndarray | None = None
    video: np.ndarray | None = None
    video_fps: float | None = None
    extend: str | None = None
    strength: float | None = None
    connect: tuple[Clip, Clip] | None = None
    loop: bool = False
    plan: dict[str, Any] | None = None
    planning: bool = True
    spatial_refiner: bool = True
    temporal_refiner: bool = True

    def __post_init__(self) -> None:
        _check_numbers(self)
        mode = self.mode  # raises on more than one mode
        if (self.video is not None) != (mode in ("extend", "edit")):
            if self.video is None:
                raise GenerationError(f"{_MODE_WORDS[mode]} needs an input video")
            raise GenerationError("an input video needs extend or strength (edit)")
        if self.video is not None and len(self.video) < 1:
            raise GenerationError(f"{_MODE_WORDS[mode]} needs an input video")
        if self.video_fps is not None and self.video is None:
            raise GenerationError("video_fps is given without a video")
        if self.extend is not None and self.extend not in ("forward", "backward"):
            raise GenerationError(f"extend must be forward or backward, got {self.extend!r}")
        if self.strength is not None and not 0 < self.strength <= 1:
            raise GenerationError(f"strength must be in (0, 1], got {self.strength}")
        if self.connect is not None and any(c[0] is None or len(c[0]) < 1 for c in self.connect):
            raise GenerationError("connecting needs an input video")
        if self.plan is not None and mode != "text":
            raise GenerationError(
                f"a plan is rendered from text alone; {_MODE_WORDS[mode]} cannot use one"
            )
        if self.plan is not None and not self.planning:
            raise GenerationError("a plan is given with planning off: drop one of them")

    @property
    def mode(self) -> str:
        """One of MODES, from the inputs given."""
        chosen = [
            mode
            for mode, on in (
                ("image", self.image is not None and not self.loop),
                ("extend", self.extend is not None),
                ("edit", self.strength is not None),
                ("connect", self.connect is not None),
                ("loop", self.loop),
            )
            if on
        ]
        if len(chosen) > 1:
            raise GenerationError("choose one mode: image, extend, strength (edit), loop, connect")
        return chosen[0] if chosen else "text"

    @classmethod
    def from_fields(cls, **values: Any) -> GenerationRequest:
        """The request with these fields; an unknown one is named, with the closest known."""
        known = [f.name for f in fields(cls)]
        for name in values:
            if name not in known:
                near = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise GenerationError(f"unknown request field {name!r}{hint}")
        return cls(**values)


MAX_SEED = 2**63  # seeds are in [0, 2^63): torch's generators take 64-bit seeds
_INTS = ("width", "height", "frames", "steps")
_FLOATS = ("fps", "guidance", "shape_contrast", "strength", "video_fps")


def _integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_numbers(r: GenerationRequest) -> None:
    """Every number a number of its kind, finite: NaN guidance once made a black video."""
    if not _integer(r.seed) or not 0 <= r.seed < MAX_SEED:
        raise GenerationError(f"seed must be an integer in [0, 2^63), got {r.seed!r}")
    for name in _INTS:
        value = getattr(r, name)
        if value is not None and not _integer(value):
            raise GenerationError(f"{name} must be an integer, got {value!r}")
    floats = [(name, getattr(r, name)) for name in _FLOATS]
    floats += [("guidance_interval", v) for v in r.guidance_interval or ()]
    for name, value in floats:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise GenerationError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise GenerationError(f"{name} must be a finite number, got {value}")


_MODE_WORDS = {"text": "text-to-video", "image": "image-to-video", "extend": "extending",
               "edit": "editing", "connect": "connecting", "loop": "a loop"}  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """A request's numbers with the defaults filled in, checked against the model."""

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


def plan_canvas(plan: dict[str, Any]) -> dict[str, Any]:
    """The size, frame rate and frame count a plan was laid out for."""
    scene = plan["scene"]
    return {"width": int(scene["width"]), "height": int(scene["height"]),
            "fps": float(scene["fps"]), "frames": int(scene["num_frames"])}  # fmt: skip


def input_size(request: GenerationRequest) -> tuple[int, int] | None:
    """(width, height) of the first image or video the request holds, if any."""
    first = request.image
    if first is None:
        first = request.video if request.video is not None else None
    if first is None and request.connect is not None:
        first = request.connect[0][0]
    if first is None:
        return None
    return int(first.shape[-2]), int(first.shape[-3])


def fit_size(
    aspect: float, area: int, multiple: int, max_side: int, width: int | None = None,
    height: int | None = None,
) -> tuple[int, int]:  # fmt: skip
    """The size nearest `aspect` (width / height) that the model accepts: sides multiples of
    `multiple` up to `max_side`, about `area` pixels unless a side is given."""
    if width is not None:
        w, h = float(width), width / aspect
    elif height is not None:
        w, h = height * aspect, float(height)
    else:
        h = math.sqrt(area / aspect)
        w = h * aspect
    shrink = min(1.0, max_side / max(w, h))

    def side(x: float) -> int:
        return int(min(max_side, max(multiple, round(x * shrink / multiple) * multiple)))

    return (width or side(w)), (height or side(h))


def resolve(
    request: GenerationRequest, config: PipelineConfig, size_multiple: int, temporal_factor: int
) -> Settings:
    """`request`'s settings: its own values, else the plan's canvas, else the model's; an
    image or video given without a width and height sets them to its own aspect ratio."""
    canvas = plan_canvas(request.plan) if request.plan is not None else {}
    given = input_size(request)
    if given is not None and (request.width is None or request.height is None):
        w, h = fit_size(given[0] / given[1], config.width * config.height, size_multiple,
                        config.max_side, request.width, request.height)  # fmt: skip
        canvas = {"width": w, "height": h}

    def pick(name: str):
        value = getattr(request, name)
        return value if value is not None else canvas.get(name, getattr(config, name))

    sampler, steps = choose_sampler(request, config)
    settings = Settings(
        prompt=request.prompt, negative_prompt=request.negative_prompt, width=pick("width"),
        height=pick("height"), frames=pick("frames"), fps=pick("fps"), steps=steps,
        guidance=pick("guidance"), guidance_interval=request.guidance_interval,
        shape_contrast=pick("shape_contrast"), seed=request.seed, sampler=sampler,
    )  # fmt: skip
    check_settings(settings, config, size_multiple, temporal_factor, request.mode == "text")
    return settings


def choose_sampler(request: GenerationRequest, config: PipelineConfig) -> tuple[str, int]:
    """(sampler, steps) for a request. A model whose default is the distilled sampler runs it
    for its own step count or any count up to DISTILLED_MAX_STEPS; more steps, or euler or
    heun by name, run the full sampler (the model's `steps` unless given)."""
    sampler, steps = request.sampler, request.steps
    if sampler is None:
        distilled = config.sampler == "distilled"
        if distilled and (steps is None or steps <= DISTILLED_MAX_STEPS):
            sampler = "distilled"
        else:
            sampler = "euler" if distilled else config.sampler
    if steps is None:
        steps = config.distilled_steps if sampler == "distilled" else config.steps
    if sampler == "distilled":
        if steps > DISTILLED_MAX_STEPS:
            raise GenerationError(
                f"the distilled sampler takes 1 to {DISTILLED_MAX_STEPS} steps, not {steps}; "
                "for more, use the euler sampler"
            )
        # The model's own values are what is built in: asking for them (a re-run from a
        # video's recorded settings) is fine.
        own = {"guidance": (config.guidance,), "shape_contrast": (config.shape_contrast,),
               "guidance_interval": (config.guidance_interval, config.plan_guidance_interval)}
        for name in BUILT_IN:
            value = getattr(request, name)
            if value is not None and value not in own[name]:
                raise GenerationError(
                    f"{name.replace('_', ' ')} is built into the distilled sampler; to set it, "
                    "use the euler sampler (--sampler euler)"
                )
    return sampler, steps


def frames_for_seconds(seconds: float, fps: float, temporal_factor: int) -> int:
    """The frame count nearest `seconds` at `fps` that a VAE of `temporal_factor` takes."""
    return 1 + max(0, round(seconds * fps / temporal_factor)) * temporal_factor


# Text-to-video beyond the model's own length is made chunk by chunk (sorakit.pipeline.long):
# two minutes at 8 fps.
LONG_MAX_FRAMES = 961


def check_settings(
    s: Settings, config: PipelineConfig, multiple: int, tf: int, long_ok: bool = False
) -> None:
    """Raise GenerationError, with one line, for anything the model cannot make; `long_ok`:
    the mode can make videos longer than the model's own length."""
    if not s.prompt.strip():
        raise GenerationError("the prompt is empty")
    if not re.search(r"[^\W_]", s.prompt):
        raise GenerationError("the prompt has no words (letters or digits)")
    for name, side in (("width", s.width), ("height", s.height)):
        if side < multiple or side % multiple or side > config.max_side:
            raise GenerationError(
                f"{name} {side} is not possible: use a multiple of {multiple} "
                f"from {multiple} to {config.max_side}"
            )
    most = max(config.max_frames, LONG_MAX_FRAMES) if long_ok else config.max_frames
    if s.frames < 1 or (s.frames - 1) % tf or s.frames > most:
        raise GenerationError(
            f"{s.frames} frames is not possible: use 1 (an image) or 1 + {tf}k "
            f"({1 + tf}, {1 + 2 * tf}, ...) up to {most}"
        )
    if not 1 <= s.steps <= 1000:
        raise GenerationError(f"steps must be from 1 to 1000, got {s.steps}")
    if not 0 < s.fps <= 120:
        raise GenerationError(f"fps must be in (0, 120], got {s.fps}")
    if s.guidance < 0:
        raise GenerationError(f"guidance must be >= 0, got {s.guidance}")
    if s.shape_contrast < 0:
        raise GenerationError(f"shape contrast must be >= 0, got {s.shape_contrast}")
    if s.guidance_interval is not None:
        try:
            check_guidance_interval(s.guidance_interval)
        except ValueError as err:
            raise GenerationError(str(err)) from None
    if s.sampler not in SAMPLERS:
        raise GenerationError(f"sampler must be euler, heun or distilled, got {s.sampler!r}")


def unknown_words(prompt: str, vocabulary: tuple[str, ...]) -> list[str]:
    """The prompt's words outside `vocabulary` (none when the model lists no vocabulary)."""
    if not vocabulary:
        return []
    known = set(vocabulary)
    return [w for w in re.findall(r"[a-z]+", prompt.lower()) if w not in known]
