"""Long videos: text-to-video beyond the model's own length, made chunk by chunk.

The planner simulates the whole duration once, so events planned with "then" land anywhere in
it and the physics holds for the whole run. The transformer then makes the video a window at a
time, each window as long as the clips it was trained on:
- the last `CONTEXT` latent frames of the window before are given, clean, as the extend mode
  gives a user's video (the transformer was trained to continue from clean given frames);
- the plan's layout for the window's own time span conditions it, so every window sees where
  each object is, whatever the windows before drew;
- each window's new latent frames are decoded at once by one causal decoder whose cache carries
  the past, so the decoded video equals one decode of all latents and memory does not grow
  with length beyond the uint8 frames themselves (6 MB a minute at 64x64, 8 fps).

Without a plan (text only, or a model without layout input) the same chunking continues the
text-only video forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sorakit.data.transforms import from_model_tensor
from sorakit.pipeline.blocks import given_latents, latent_frames, sample
from sorakit.pipeline.errors import GenerationError

if TYPE_CHECKING:
    from sorakit.pipeline.output import GeneratedVideo
    from sorakit.pipeline.pipeline import TextToVideoPipeline
    from sorakit.pipeline.request import GenerationRequest, Settings

CONTEXT = 2  # latent frames of the window before, given clean to the next


def windows(total: int, window: int, context: int = CONTEXT) -> list[int]:
    """First latent frame of each window over `total` latent frames: each window after the
    first starts `context` frames before the end of the one before, and the last ends at
    `total` (it may overlap its predecessor by more)."""
    if total <= window:
        return [0]
    step = window - context
    starts = list(range(0, total - window, step))
    return starts + [total - window]


def plan_window(plan: dict[str, Any], first: int, count: int) -> dict[str, Any]:
    """The plan's frames `first` to `first + count - 1`, their times counted from `first`."""
    frames = plan["frames"][first : first + count]
    t0 = float(frames[0]["time"])
    shifted = [{**f, "index": k, "time": float(f["time"]) - t0} for k, f in enumerate(frames)]
    return {**plan, "scene": {**plan["scene"], "num_frames": count}, "frames": shifted}


def first_frame(latent: int, temporal_factor: int) -> int:
    """The video frame a window starting at latent frame `latent` starts from: a causal VAE's
    latent frame j > 0 covers frames tf*j - tf + 1 .. tf*j, and a window's first latent frame
    is read as one frame, its last."""
    return latent * temporal_factor


def window_seed(seed: int, index: int) -> int:
    """Each window draws its own noise, fixed by the request's seed."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] & 0x7FFFFFFF)


def long_video(
    pipe: TextToVideoPipeline,
    req: GenerationRequest,
    s: Settings,
    on_step: Callable[[], None] | None,
    record: Callable[..., GeneratedVideo],
) -> GeneratedVideo:
    """Text-to-video of `s.frames` frames, longer than the model's own clips; `record` makes
    the GeneratedVideo of decoded frames (`sorakit.pipeline.modes.record`)."""
    tf = pipe.vae.temporal_factor
    if pipe.cascade_stages(s, req.spatial_refiner, req.temporal_refiner):
        raise GenerationError(
            f"videos longer than {pipe.config.max_frames} frames are made at the model's own "
            f"size and frame rate ({pipe.config.width}x{pipe.config.height}, {pipe.config.fps:g} "
            "fps): refine them afterwards with upscale or interpolate"
        )
    total, window = latent_frames(s.frames, tf), latent_frames(pipe.config.frames, tf)
    plan = None
    if req.planning and pipe.reads_layout:
        plan = pipe.planner.auto_plan(s.prompt, s.width, s.height, s.fps, s.frames, s.seed)
    decode = pipe.vae.stream_decoder()
    pieces, context, done = [], None, 0
    for k, start in enumerate(windows(total, window)):
        n = min(window, total - start)
        given = mask = None
        if context is not None:
            keep = done - start  # latent frames of this window already made
            given, mask = given_latents(n, start=context[:, :, -keep:])
        part = None
        if plan is not None:
            part = plan_window(plan, first_frame(start, tf), 1 + (n - 1) * tf)
        z = sample(pipe, replace(s, seed=window_seed(s.seed, k)), n, given, mask, plan=part,
                   on_step=on_step)  # fmt: skip
        with torch.no_grad():
            video = decode(z[:, :, done - start :]).clamp(-1, 1)
        pieces.append(from_model_tensor(video[0].cpu()).numpy())
        context, done = z, start + n
    frames = np.concatenate(pieces)
    out = record(pipe, frames, s, "text-to-video-long", planned=plan is not None,
                 windows=len(windows(total, window)), context_latent_frames=CONTEXT)  # fmt: skip
    out.plan = plan
    return out


def step_count(steps_per_window: int, frames: int, temporal_factor: int, model_frames: int) -> int:
    """How many sampler steps a long video takes: for progress bars."""
    total = latent_frames(frames, temporal_factor)
    window = latent_frames(model_frames, temporal_factor)
    return steps_per_window * len(windows(total, window))
