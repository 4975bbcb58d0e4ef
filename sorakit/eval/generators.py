"""Where evaluated videos come from: a folder of files, the ground truth, corrupted truth, the
truth through a VAE, or a trained pipeline.

A generator turns a suite item into frames, and may continue a clip from its first frames.
Ground truth renders the item's own scene; corrupted ground truth breaks one thing on purpose
(colours swapped, frames shuffled, gravity halved, ...), which is how the suite proves that
each category's score reacts to the failure it is named for. The truth through a VAE (encoded and
decoded) is the best a model on that latent space can score: what the latent space loses, no
transformer can get back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from sorakit.data.transforms import from_model_tensor, to_model_tensor
from sorakit.data.video import VideoReadError, read_video
from sorakit.device import resolve_device
from sorakit.eval.suite import SuiteItem
from sorakit.pipeline import GenerationError, GenerationRequest, TextToVideoPipeline, load_vae
from sorakit.world.clip import frame_times
from sorakit.world.physics import simulate
from sorakit.world.render import render_frames
from sorakit.world.scene import Scene, extents
from sorakit.world.vocab import COLOURS, SHAPES


@dataclass
class Generated:
    frames: np.ndarray  # (T, H, W, 3) uint8
    fps: float


class Generator(Protocol):
    name: str

    def generate(self, item: SuiteItem) -> Generated | None:
        """The video for `item`, or None if there is none."""
        ...

    def continue_clip(self, item: SuiteItem, context: np.ndarray) -> Generated | None:
        """The whole clip of `item` given its first frames `context` (T0, H, W, 3); None if this
        generator cannot continue videos."""
        ...


def _positions(scene: Scene, trajectory, item: SuiteItem) -> np.ndarray:
    return trajectory.sample(frame_times(item.fps, item.num_frames))[0]  # (T, N, 2)


def _render(scene: Scene, positions: np.ndarray, item: SuiteItem) -> np.ndarray:
    return render_frames(scene, positions, item.width, item.height)


def _recolour(scene: Scene, mapping: dict[str, str]) -> Scene:
    objects = tuple(replace(o, colour=mapping.get(o.colour, o.colour)) for o in scene.objects)
    return replace(scene, objects=objects)


def _free_x(scene: Scene, pos: np.ndarray, obj: int) -> float:
    """An x for a copy of object `obj` at its height, as far as possible from every object."""
    width = scene.extent[0]
    left, _, right, _ = extents(scene.objects[obj].shape, scene.objects[obj].size)
    xs = np.linspace(-left, width - right, 64)
    dist = np.min(np.abs(xs[:, None] - pos[:, 0][None, :]), axis=1)
    return float(xs[np.argmax(dist)])


def corrupt(name: str, item: SuiteItem) -> np.ndarray:
    """Ground-truth frames of `item` with one deliberate failure; see CORRUPTIONS."""
    scene, trajectory = item.simulated
    pos = _positions(scene, trajectory, item)
    rng = np.random.default_rng(item.seed)
    present = {o.colour for o in scene.objects}
    if name == "colour_swap":  # every colour becomes one the prompt did not ask for
        absent = [c for c in COLOURS if c not in present]
        return _render(
            _recolour(scene, dict(zip(sorted(present), absent, strict=False))), pos, item
        )
    if name == "colour_rotate":  # colours move to the next group: attributes bound wrongly
        colours = [g.colour for g in scene.groups]
        mapping = dict(zip(colours, colours[1:] + colours[:1], strict=True))
        return _render(_recolour(scene, mapping), pos, item)
    if name == "shape_swap":
        objects = tuple(
            replace(o, shape=SHAPES[(SHAPES.index(o.shape) + 1) % len(SHAPES)])
            for o in scene.objects
        )
        return _render(replace(scene, objects=objects), pos, item)
    if name in ("remove", "vanish"):  # object 0 gone: always, or in the middle third
        frames = _render(scene, pos, item)
        without = _render(replace(scene, objects=scene.objects[1:]), pos[:, 1:], item)
        if name == "remove":
            return without
        t = len(frames)
        frames[t // 3 : max(2 * t // 3, t // 3 + 1)] = without[t // 3 : max(2 * t // 3, t // 3 + 1)]
        return frames
    if name == "duplicate":  # an extra copy of object 0 at a free spot at its height
        extra = np.array([_free_x(scene, pos[0], 0), pos[0, 0, 1]])
        pos2 = np.concatenate([pos, (pos[:, :1] - pos[0, :1] + extra)], axis=1)
        return _render(replace(scene, objects=scene.objects + scene.objects[:1]), pos2, item)
    if name == "gravity":  # the same scene under half the world's gravity
        weak = replace(scene, gravity=scene.gravity / 2)
        return _render(weak, _positions(weak, simulate(weak, max(item.duration, 2.0)), item), item)
    if name == "passthrough":  # objects keep their start velocity and pass through each other
        t = frame_times(item.fps, item.num_frames)[:, None, None]
        start = np.array([o.position for o in scene.objects])[None]
        vel = np.array([o.velocity for o in scene.objects])[None]
        moving = np.array([o.motion == "collide" for o in scene.objects])[None, :, None]
        return _render(scene, np.where(moving, start + vel * t, pos), item)
    frames = _render(scene, pos, item)
    if name == "rotate180":  # left becomes right and above becomes below
        return np.ascontiguousarray(frames[:, ::-1, ::-1])
    if name == "reverse":
        return np.ascontiguousarray(frames[::-1])
    if name == "freeze":
        return np.repeat(frames[:1], len(frames), axis=0)
    if name == "shuffle":
        order = rng.permutation(len(frames))
        while len(frames) > 1 and np.array_equal(order, np.arange(len(frames))):
            order = rng.permutation(len(frames))
        return frames[order]
    if name == "jitter":  # whole-frame brightness flicker
        offsets = rng.uniform(-12, 12, size=(len(frames), 1, 1, 1))
        return np.clip(frames.astype(np.float32) + offsets, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")


CORRUPTIONS: tuple[str, ...] = (
    "colour_swap",
    "colour_rotate",
    "shape_swap",
    "remove",
    "vanish",
    "duplicate",
    "gravity",
    "passthrough",
    "rotate180",
    "reverse",
    "freeze",
    "shuffle",
    "jitter",
)


@dataclass
class GroundTruth:
    """Renders each item's own scene, optionally with one corruption."""

    corruption: str | None = None

    @property
    def name(self) -> str:
        return "groundtruth" if self.corruption is None else f"corrupt:{self.corruption}"

    def generate(self, item: SuiteItem) -> Generated:
        if self.corruption is not None:
            return Generated(corrupt(self.corruption, item), item.fps)
        scene, trajectory = item.simulated
        return Generated(_render(scene, _positions(scene, trajectory, item), item), item.fps)

    def continue_clip(self, item: SuiteItem, context: np.ndarray) -> Generated:
        return self.generate(item)


@dataclass
class VAERoundTrip:
    """Ground truth encoded and decoded by a VAE (`--model vae:PATH`)."""

    vae: object  # a sorakit.models.vae.CausalVAE
    label: str

    @property
    def name(self) -> str:
        return f"vae:{self.label}"

    def generate(self, item: SuiteItem) -> Generated:
        truth = GroundTruth().generate(item)
        device = next(self.vae.parameters()).device
        x = to_model_tensor(truth.frames)[None].to(device)
        with torch.no_grad():
            recon = self.vae.decode(self.vae.encode(x, chunk=2), chunk=2)
        return Generated(from_model_tensor(recon[0].cpu()).numpy(), truth.fps)

    def continue_clip(self, item: SuiteItem, context: np.ndarray) -> Generated:
        return self.generate(item)


@dataclass
class VideoFolder:
    """Videos made elsewhere: DIR/<item id>.mp4 (or .png for 1-frame items); continuations as
    DIR/<continuation id>.mp4 holding the whole clip, context included."""

    folder: Path

    @property
    def name(self) -> str:
        return f"videos:{self.folder}"

    def _read(self, stem: str, fps: float) -> Generated | None:
        for suffix in (".mp4", ".png", ".gif", ".webm", ".mkv"):
            path = self.folder / f"{stem}{suffix}"
            if path.exists():
                try:
                    video = read_video(path)
                except VideoReadError:
                    return None
                return Generated(video.frames, video.fps or fps)
        return None

    def generate(self, item: SuiteItem) -> Generated | None:
        return self._read(item.id, item.fps)

    def continue_clip(self, item: SuiteItem, context: np.ndarray) -> Generated | None:
        return self._read(item.id, item.fps)


@dataclass
class PipelineGenerator:
    """A trained text-to-video pipeline: each item's prompt at the item's size, frame rate and
    length, seeded by the item; continuations extend the given first frames forward."""

    pipe: object  # a sorakit.pipeline.TextToVideoPipeline
    steps: int | None = None
    guidance: float | None = None
    label: str = "default"
    planning: bool = True  # plan understood prompts first (models that read layouts)
    refiners: bool = True  # run the cascade's refiners where the request calls for them
    guidance_interval: tuple[float, float] | None = None  # None: the model's
    shape_contrast: float | None = None  # None: the model's
    sampler: str | None = None  # None: the model's default for the steps asked

    @property
    def name(self) -> str:
        return self._name(cascade=self.refiners and bool(self.pipe.refiners))

    def name_for(self, config) -> str:
        """`name` for a run of suite `config`: "+cascade" only where its size and frame rate
        make the cascade run (at the base's own size and rate the base alone generates)."""
        try:
            settings = self.pipe.settings(GenerationRequest(
                prompt="a suite", width=config.width, height=config.height, fps=config.fps,
                frames=config.num_frames,
            ))  # fmt: skip
        except GenerationError:  # a size the model cannot make: its videos said so already
            return self.name
        stages = self.pipe.cascade_stages(settings, self.refiners, self.refiners)
        return self._name(cascade=bool(stages))

    def _name(self, cascade: bool) -> str:
        planned = self.planning and self.pipe.reads_layout
        return (
            f"model:{self.label}"
            + ("+planning" if planned else "")
            + ("+cascade" if cascade else "")
        )

    def _options(self, item: SuiteItem) -> dict:
        return dict(
            width=item.width, height=item.height, fps=item.fps, seed=item.seed % 2**31,
            steps=self.steps, guidance=self.guidance, guidance_interval=self.guidance_interval,
            shape_contrast=self.shape_contrast, sampler=self.sampler,
        )  # fmt: skip

    def generate(self, item: SuiteItem) -> Generated:
        video = self.pipe.generate(GenerationRequest(
            prompt=item.prompt, frames=item.num_frames, planning=self.planning,
            spatial_refiner=self.refiners, temporal_refiner=self.refiners, **self._options(item),
        ))  # fmt: skip
        return Generated(video.frames, video.fps)

    def continue_clip(self, item: SuiteItem, context: np.ndarray) -> Generated | None:
        tf = self.pipe.vae.temporal_factor
        if (len(context) - 1) % tf:
            return None  # context the VAE cannot encode exactly
        new = item.num_frames - len(context) + 1
        video = self.pipe.generate(GenerationRequest(
            prompt=item.prompt, video=context, video_fps=item.fps, extend="forward", frames=new,
            planning=self.planning, **self._options(item),
        ))  # fmt: skip
        return Generated(video.frames[: item.num_frames], video.fps)


def make_generator(
    model: str | None,
    videos: Path | None,
    steps: int | None = None,
    guidance: float | None = None,
    planning: bool = True,
    refiners: bool = True,
    guidance_interval: tuple[float, float] | None = None,
    shape_contrast: float | None = None,
    device: str | None = None,
    dtype: str | None = None,
    sampler: str | None = None,
) -> Generator:
    """`--model groundtruth`, `--model corrupt:NAME`, `--model vae:PATH` (the truth through a VAE
    folder, or the VAE of a model folder), `--model default` (the shipped model), `--model PATH`
    (a pipeline folder), or `--videos DIR`."""
    if (model is None) == (videos is None):
        raise ValueError("give exactly one of --model or --videos")
    if videos is not None:
        if not videos.is_dir():
            raise ValueError(f"--videos {videos}: not a folder")
        return VideoFolder(videos)
    if model == "groundtruth":
        return GroundTruth()
    if model.startswith("corrupt:"):
        name = model.removeprefix("corrupt:")
        if name not in CORRUPTIONS:
            raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
        return GroundTruth(name)
    if model.startswith("vae:"):
        path = model.removeprefix("vae:")
        try:
            return VAERoundTrip(load_vae(path).to(resolve_device(device or "cpu")), path)
        except ValueError as exc:
            raise ValueError(f"--model vae:{path}: {exc}") from None
    if model == "default" or Path(model).is_dir():
        folder = None if model == "default" else model
        pipe = TextToVideoPipeline.from_pretrained(folder, device=device, dtype=dtype)
        return PipelineGenerator(
            pipe, steps, guidance, model, planning, refiners, guidance_interval, shape_contrast,
            sampler,
        )  # fmt: skip
    raise ValueError(
        f"--model {model}: not a known generator. Use 'default', a model folder, "
        f"'groundtruth', 'corrupt:NAME' ({', '.join(CORRUPTIONS)}), 'vae:PATH', or --videos DIR "
        "with one video per prompt."
    )
