"""One function per prompting mode, each building what it holds fixed.

Every mode works in latent space, the way the transformer was trained: frames given by the user
are encoded and held clean at t = 0 while the rest is generated.
- text: text-to-video / text-to-image (frames = 1), planned when the prompt is understood,
  through the cascade when the request asks for more than the base makes; longer than the
  model's own clips, window by window (`sorakit.pipeline.long`);
- image: the image is the first latent frame;
- extend forward: the video's latents are the prefix; extend backward: its latents after the
  first (each covering `temporal_factor` frames) are the suffix, so its first frame is replaced;
- edit (SDEdit): the video's latents noised to t = strength, then denoised;
- connect A B: A's latents as prefix, B's (after its first) as suffix, the middle generated;
- loop: the first frame is given at both ends (held over the last latent frame), and those last
  frames, which repeat the start, are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from torch import Tensor

from sorakit.cascade.refine import DEFAULT_AUG
from sorakit.cascade.stages import Canvas, base_canvas, run_stage
from sorakit.data.transforms import to_model_tensor
from sorakit.pipeline.blocks import (
    decode,
    encode_frames,
    encode_text,
    given_latents,
    guidance_interval,
    latent_frames,
    prepare_frames,
    sample,
)
from sorakit.pipeline.errors import GenerationError
from sorakit.pipeline.long import long_video
from sorakit.pipeline.output import GeneratedVideo
from sorakit.pipeline.provenance import Provenance
from sorakit.pipeline.request import GenerationRequest, Settings

if TYPE_CHECKING:
    from sorakit.pipeline.pipeline import TextToVideoPipeline

Step = Callable[[], None] | None


def finish(
    pipe: TextToVideoPipeline, latents: Tensor, s: Settings, mode: str, **extra
) -> GeneratedVideo:
    """Decode `latents` and record how they were made (`extra`: the mode's own fields)."""
    return record(pipe, decode(pipe.vae, latents), s, mode, **extra)


def record(
    pipe: TextToVideoPipeline, frames: np.ndarray, s: Settings, mode: str, **extra
) -> GeneratedVideo:
    """Decoded frames with how they were made (`extra`: the mode's own fields)."""
    planned = bool(extra.get("planned"))
    record = Provenance(
        prompt=s.prompt, negative_prompt=s.negative_prompt, seed=s.seed, mode=mode,
        model=pipe.source or "in-memory", width=s.width, height=s.height,
        frames=int(frames.shape[0]), fps=s.fps, steps=s.steps, guidance=s.guidance,
        guidance_interval=list(guidance_interval(pipe.config, s, planned)),
        shape_contrast=s.shape_contrast if planned else 0.0, sampler=s.sampler,
        weights_sha256=dict(pipe.weights_sha256), **extra,
    )  # fmt: skip
    return GeneratedVideo(frames, s.fps, record)


def _tf(pipe: TextToVideoPipeline) -> int:
    return pipe.vae.temporal_factor


def refine_stage(
    pipe: TextToVideoPipeline, video: Tensor, kind: str, s: Settings, plan: dict | None,
    on_step: Step,
) -> Tensor:  # fmt: skip
    """Cascade stage `kind` on a video (1, 3, T, H, W) in [-1, 1]; `s` gives the caption, the
    seed and the output's frame rate. Without a plan the model's text-only refiner runs, where
    it has one."""
    if kind not in pipe.refiners:
        raise GenerationError(f"this model has no {kind} refiner")
    refiner = pipe.refiner_for(kind, planned=plan is not None)
    c = pipe.config
    return run_stage(
        pipe.vae, refiner, video, kind, encode_text(pipe.text_encoder, [s.prompt]), s.fps,
        steps=c.refiner_steps, aug=c.refiner_aug.get(kind, DEFAULT_AUG),
        strength=c.refiner_strength.get(kind, 1.0), seed=s.seed, plan=plan, on_step=on_step,
    )  # fmt: skip


def text_to_video(
    pipe: TextToVideoPipeline, req: GenerationRequest, s: Settings, on_step: Step
) -> GeneratedVideo:
    if s.frames > pipe.config.max_frames:
        return long_video(pipe, req, s, on_step, record)
    stages = pipe.cascade_stages(s, req.spatial_refiner, req.temporal_refiner)
    b = base_canvas(Canvas(s.width, s.height, s.frames, s.fps), stages, _tf(pipe))
    base = replace(s, width=b.width, height=b.height, frames=b.frames, fps=b.fps)
    plan = req.plan
    if plan is not None and not pipe.reads_layout:
        raise GenerationError("this model does not read layouts: it cannot render a plan")
    if plan is None and req.planning and pipe.reads_layout:
        # Planned at the final size and rate: one simulation serves every stage (a plan's
        # boxes are in canvas fractions and its frames sample one continuous run).
        plan = pipe.planner.auto_plan(s.prompt, s.width, s.height, s.fps, s.frames, s.seed)
    latents = sample(pipe, base, latent_frames(base.frames, _tf(pipe)), plan=plan,
                     on_step=on_step)  # fmt: skip
    for kind in stages:
        video = pipe.vae.decode(latents, chunk=4).clamp(-1, 1)
        latents = refine_stage(pipe, video, kind, s, plan, on_step)
    mode = "text-to-image" if s.frames == 1 else "text-to-video"
    text_only = [k for k in stages if plan is None and k in pipe.text_only_refiners]
    video = finish(pipe, latents, s, mode, planned=plan is not None, cascade=list(stages),
                   text_only_refiners=text_only)  # fmt: skip
    video.plan = plan
    return video


def image_to_video(
    pipe: TextToVideoPipeline, req: GenerationRequest, s: Settings, on_step: Step
) -> GeneratedVideo:
    first = encode_frames(pipe.vae, req.image[None], s, None)
    n = latent_frames(s.frames, _tf(pipe))
    given, mask = given_latents(n, start=first)
    latents = sample(pipe, s, n, given, mask, on_step=on_step)
    return finish(pipe, latents, s, "image-to-video")


def extend(
    pipe: TextToVideoPipeline, req: GenerationRequest, s: Settings, on_step: Step
) -> GeneratedVideo:
    context = prepare_frames(req.video, s, req.video_fps, _tf(pipe))
    z = pipe.vae.encode(to_model_tensor(context)[None].to(pipe.device))
    forward = req.extend == "forward"
    if not forward:
        z = z[:, :, 1:]  # latents after the first cover whole frame groups
        if z.shape[2] == 0:
            raise GenerationError("extending backward needs at least 1 + 4k frames, k >= 1")
    total = z.shape[2] + latent_frames(s.frames, _tf(pipe)) - (1 if forward else 0)
    given, mask = given_latents(total, **({"start": z} if forward else {"end": z}))
    plan = None
    if req.planning and forward and pipe.reads_layout:
        frames = 1 + (total - 1) * _tf(pipe)
        plan = pipe.planner.auto_plan(s.prompt, s.width, s.height, s.fps, frames, s.seed,
                                      context=np.asarray(context))  # fmt: skip
    latents = sample(pipe, s, total, given, mask, plan=plan, on_step=on_step)
    video = finish(pipe, latents, s, f"extend-{req.extend}", input_latent_frames=z.shape[2],
                   planned=plan is not None)  # fmt: skip
    video.plan = plan
    return video


def edit(
    pipe: TextToVideoPipeline, req: GenerationRequest, s: Settings, on_step: Step
) -> GeneratedVideo:
    z = encode_frames(pipe.vae, req.video, s, req.video_fps)
    latents = sample(pipe, s, z.shape[2], init=z, strength=req.strength, on_step=on_step)
    return finish(pipe, latents, s, "video-to-video", strength=req.strength)


def connect(
    pipe: TextToVideoPipeline, req: GenerationRequest, s: Settings, on_step: Step
) -> GeneratedVideo:
    (a, a_fps), (b, b_fps) = req.connect
    za = encode_frames(pipe.vae, a, s, a_fps)
    zb = encode_frames(pipe.vae, b, s, b_fps)[:, :, 1:]
    if zb.shape[2] == 0:
        raise GenerationError("the second video needs at least 1 + 4k frames, k >= 1")
    middle = max(1, latent_frames(s.frames, _tf(pipe)) - 1)
    total = za.shape[2] + middle + zb.shape[2]
    given, mask = given_latents(total, start=za, end=zb)
    latents = sample(pipe, s, total, given, mask, on_step=on_step)
    return finish(pipe, latents, s, "connect", middle_latent_frames=middle)


def loop(
    pipe: TextToVideoPipeline, req: GenerationRequest, s: Settings, on_step: Step
) -> GeneratedVideo:
    tf = _tf(pipe)
    n = latent_frames(s.frames, tf) + 1  # one extra latent frame: the start, held
    if n < 3:
        raise GenerationError("a loop needs at least 1 + 2 * temporal factor frames")
    image = req.image
    if image is None:  # the start frame comes from a text-to-image run
        image = decode(pipe.vae, sample(pipe, s, 1, on_step=on_step))[0]
    held = encode_frames(pipe.vae, np.repeat(image[None], 1 + tf, axis=0), s, None)  # (z0, hold)
    given, mask = given_latents(n, start=held[:, :, :1], end=held[:, :, 1:2])
    latents = sample(pipe, s, n, given, mask, on_step=on_step)
    video = finish(pipe, latents, s, "loop")
    video.frames = video.frames[:-tf]  # the held start: playback wraps to frame 0 instead
    video.provenance = replace(video.provenance, frames=int(video.frames.shape[0]))
    return video


MODES = {"text": text_to_video, "image": image_to_video, "extend": extend, "edit": edit,
         "connect": connect, "loop": loop}  # fmt: skip


def refine_video(
    pipe: TextToVideoPipeline,
    kind: str,
    frames: np.ndarray,
    fps: float,
    prompt: str = "",
    seed: int = 0,
    on_step: Step = None,
    plan: dict | None = None,
) -> GeneratedVideo:
    """Run one refiner on a user's video (T, H, W, 3) uint8: `upscale` (kind "spatial") or
    `interpolate` (kind "temporal"). The video keeps its size (cut to a multiple of the model's
    step) and frame count (cut to 1 + 4k). `plan`: a plan or world annotation of the output,
    for a refiner that reads layouts."""
    m, tf = pipe.size_multiple, _tf(pipe)
    height, width = frames.shape[1] // m * m, frames.shape[2] // m * m
    if height < m or width < m:
        raise GenerationError(f"the video is smaller than the model's step ({m} pixels)")
    if kind == "temporal" and len(frames) < 1 + tf:
        raise GenerationError(f"interpolating needs at least {1 + tf} frames")
    s = Settings(
        prompt=prompt or " ", negative_prompt="", width=width, height=height,
        frames=1 + (len(frames) - 1) // tf * tf, fps=fps, steps=pipe.config.refiner_steps,
        guidance=1.0, guidance_interval=None, shape_contrast=0.0, seed=seed, sampler="euler",
    )  # fmt: skip
    video = to_model_tensor(prepare_frames(frames, s, fps, tf))[None].to(pipe.device)
    out_fps = fps * 2 if kind == "temporal" else fps
    latents = refine_stage(pipe, video, kind, replace(s, fps=out_fps), plan, on_step)
    scale = 2 if kind == "spatial" else 1
    final = replace(s, width=width * scale, height=height * scale, fps=out_fps)
    return finish(pipe, latents, final, f"refine-{kind}", input_frames=len(frames))
