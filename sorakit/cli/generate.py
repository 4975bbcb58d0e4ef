"""`sorakit generate`: a video (or an image) from a prompt, in every prompting mode."""

from __future__ import annotations

from pathlib import Path

import typer

from sorakit.cli.data import (
    GUIDANCE_INTERVAL_OPTION,
    SAMPLER_OPTION,
    SHAPE_CONTRAST_OPTION,
    console,
    parse_interval,
    progress_bar,
)
from sorakit.cli.inputs import (
    DEVICE_OPTION,
    DTYPE_OPTION,
    check_output,
    device_and_dtype,
    finite,
    note,
    read_media,
)
from sorakit.cli.verify import (
    NO_PROVENANCE,
    PROVENANCE_PROMPT,
    SIGNING_CERT,
    SIGNING_KEY,
    provenance_options,
)


def _describe_input(frames, fps: float | None, what: str, settings) -> None:
    """Say what generation changes of an input: its crop and its frame rate."""
    from sorakit.data.transforms import crop_note

    cut = crop_note(frames.shape[2], frames.shape[1], settings.width, settings.height)
    if cut:
        note(f"the {what} is {frames.shape[2]}x{frames.shape[1]}; generating at "
             f"{settings.width}x{settings.height}, {cut}")  # fmt: skip
    if fps and len(frames) > 1 and abs(fps - settings.fps) > 0.01 * settings.fps:
        kept = int((len(frames) - 1) / fps * settings.fps) + 1
        note(f"the {what} is {fps:g} fps and the model makes {settings.fps:g} (--fps to "
             f"change), so its {len(frames)} frames become {kept}")  # fmt: skip


def _read_inputs(image, video, connect, plan) -> tuple[dict, list]:
    """The request's input fields from the files given, and (frames, fps, what) of each image
    or video, to describe what generation changes of it."""
    from sorakit.data.safe_read import SCALED_INPUT
    from sorakit.planner import PlanError, load_plan

    inputs, given = {}, []
    if image is not None:
        frames_in, _ = read_media(image, "image", SCALED_INPUT)
        inputs["image"] = frames_in[0]
        given.append((frames_in[:1], None, "image"))
    if video is not None:
        inputs["video"], inputs["video_fps"] = read_media(video, "video", SCALED_INPUT)
        given.append((inputs["video"], inputs["video_fps"], "video"))
    if connect:
        names = ("first video", "second video")
        clips = [read_media(p, w, SCALED_INPUT) for p, w in zip(connect, names, strict=True)]
        inputs["connect"] = tuple(clips)
        given += [(f, r, w) for (f, r), w in zip(clips, names, strict=True)]
    if plan is not None:
        try:
            inputs["plan"] = load_plan(plan)
        except PlanError as exc:
            raise typer.BadParameter(str(exc)) from None
    return inputs, given


def _drawable(pipe, request, strict: bool):
    """(the request to run, whether the planner read its prompt): a prompt the world cannot
    show is said so in one line and replaced by the nearest it can (`read_prompt`), or, with
    --strict, refused with exit code 2."""
    drawn, reading = pipe.read_prompt(request)
    if reading is None:
        return request, False
    if reading.drawable:
        if reading.ignored:
            note(f"nothing drawn for {', '.join(reading.ignored)} (the world has no such thing)")
        return request, True
    if strict:
        console.print(f"error: {reading.refusal()}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    note(f"{reading.refusal()}; drawing '{drawn.prompt}' (--strict to stop instead)")
    return drawn, True


def _written(paths) -> str:
    return str(paths[0]) if len(paths) == 1 else f"{paths[0]} ... {paths[-1]} ({len(paths)} files)"


def generate(
    prompt: str = typer.Argument(..., help="What to show, e.g. 'a red ball falls and bounces'."),
    out: Path = typer.Option(..., "--out", help="Output: .mp4, .gif or .png (+ a .json sidecar)."),
    model: Path = typer.Option(None, "--model", help="A model folder; default: the shipped one."),
    device: str = DEVICE_OPTION,
    dtype: str = DTYPE_OPTION,
    seed: int = typer.Option(0, "--seed", min=0, max=2**63 - 1, help="Same seed, same video."),
    width: int = typer.Option(None, "--width", help="Pixels; a multiple of the model's step."),
    height: int = typer.Option(None, "--height"),
    frames: int = typer.Option(None, "--frames", help="1 for an image, else 1 + 4k."),
    seconds: float = typer.Option(
        None, "--seconds", min=0.0, max=120.0, callback=finite,
        help="Length in seconds, instead of --frames. Past the model's own length (8 s) the "
        "video is made window by window, up to 120 s, planned as one simulation.",
    ),
    fps: float = typer.Option(
        None, "--fps", callback=finite, help="Frame rate of the generated motion."
    ),
    steps: int = typer.Option(None, "--steps", help="Sampler steps (more: slower, finer)."),
    guidance: float = typer.Option(
        None, "--guidance", callback=finite,
        help="Classifier-free guidance scale of the full sampler (the distilled one has the "
        "model's built in).",
    ),
    guidance_interval: str = GUIDANCE_INTERVAL_OPTION,
    shape_contrast: float = SHAPE_CONTRAST_OPTION,
    negative: str = typer.Option("", "--negative", help="What not to show (negative prompt)."),
    sampler: str = SAMPLER_OPTION,
    image: Path = typer.Option(None, "--image", help="Animate this first frame (image-to-video)."),
    video: Path = typer.Option(None, "--video", help="Input video for --extend or --strength."),
    extend: str = typer.Option(None, "--extend", help="forward or backward: continue --video."),
    loop: bool = typer.Option(False, "--loop", help="A seamless loop (from --image if given)."),
    strength: float = typer.Option(
        None, "--strength", callback=finite, help="Edit --video (SDEdit): 0 keeps it, 1 ignores it."
    ),
    connect: tuple[Path, Path] | None = typer.Option(
        None, "--connect", help="Two videos A B: generate a transition from A into B."
    ),
    plan: Path = typer.Option(
        None, "--plan", help="Render this plan (sorakit plan; edit it by hand or write your own)."
    ),
    spatial: bool = typer.Option(
        True,
        "--spatial-refiner/--no-spatial-refiner",
        help="Cascade: make half the size, then double it with the spatial refiner (models "
        "that have one).",
    ),
    temporal: bool = typer.Option(
        True,
        "--temporal-refiner/--no-temporal-refiner",
        help="Cascade: make half the frame rate, then double it with the temporal refiner.",
    ),
    planning: bool = typer.Option(
        True,
        "--planning/--no-planning",
        help="Plan the layout and physics first when the whole prompt is understood "
        "(models that read layouts).",
    ),
    profile: bool = typer.Option(
        False, "--profile", help="Print where the run spent its time: imports, model load, "
        "planning, sampling, decoding, writing."
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="For a prompt the model cannot draw, stop (exit code 2) instead of drawing the "
        "nearest prompt it can.",
    ),
    no_provenance: bool = NO_PROVENANCE,
    provenance_prompt: bool = PROVENANCE_PROMPT,
    signing_cert: Path = SIGNING_CERT,
    signing_key: Path = SIGNING_KEY,
) -> None:
    """Generate a video from a prompt with the default model (or --model).

    Examples:

      sorakit generate "a red ball falls and bounces" --out ball.mp4

      sorakit generate "a blue square" --frames 1 --out square.png

      sorakit generate "the ball rolls right" --image first.png --out anim.mp4

      sorakit generate "it keeps moving" --video clip.mp4 --extend forward --out longer.mp4

      sorakit plan "a red ball falls" --out plan.json   (edit it, then)
      sorakit generate "a red ball falls" --plan plan.json --out ball.mp4

    A planned video is saved with its plan beside it (NAME.plan.json).
    """
    from dataclasses import replace

    from sorakit.cli.profile import Phases, collection_paused

    with collection_paused():  # torch's import makes many objects and no garbage
        from sorakit.pipeline import GenerationError, GenerationRequest, TextToVideoPipeline
        from sorakit.pipeline.request import frames_for_seconds, unknown_words
        from sorakit.planner import save_plan

    phases = Phases()
    check_output(out)
    marks = provenance_options(no_provenance, provenance_prompt, signing_cert, signing_key,
                               tuple(p for p in (image, video, *(connect or ())) if p))  # fmt: skip
    if seconds is not None and frames is not None:
        raise typer.BadParameter("give --frames or --seconds, not both")
    device, dtype = device_and_dtype(device, dtype)
    inputs, given = _read_inputs(image, video, connect, plan)
    try:  # contradictions are refused before the model loads
        request = GenerationRequest(
            prompt=prompt, negative_prompt=negative, seed=seed, width=width, height=height,
            frames=frames, fps=fps, steps=steps, guidance=guidance,
            guidance_interval=parse_interval(guidance_interval), shape_contrast=shape_contrast,
            sampler=sampler, extend=extend, strength=strength, loop=loop, planning=planning,
            spatial_refiner=spatial, temporal_refiner=temporal, **inputs,
        )  # fmt: skip
    except GenerationError as exc:
        raise typer.BadParameter(str(exc)) from None
    phases.mark("reading the request")
    try:
        with collection_paused():
            pipe = TextToVideoPipeline.from_pretrained(model, device, dtype)
    except (GenerationError, ValueError, OSError) as exc:
        raise typer.BadParameter(f"cannot load the model: {exc}") from None
    phases.mark("loading the model (VAE, transformer, text encoder)")
    if seconds is not None:
        count = frames_for_seconds(seconds, fps or pipe.config.fps, pipe.vae.temporal_factor)
        request = replace(request, frames=count)
    try:
        request, read = _drawable(pipe, request, strict)
    except (GenerationError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None
    unknown = [] if read else unknown_words(prompt, pipe.config.vocabulary)
    if unknown:
        console.print(
            f"[yellow]warning:[/] the model never saw {', '.join(sorted(set(unknown)))}; the "
            "default model knows only the built-in world (sorakit data vocab lists its words)"
        )
    cut = pipe.text_encoder.cut_after(prompt)
    if cut is not None:
        note(f"the prompt is longer than the model reads ({pipe.text_encoder.max_length} "
             f"tokens): it is cut after {cut!r}")  # fmt: skip
    try:
        settings = pipe.settings(request)
        for frames_in, rate, what in given:
            _describe_input(frames_in, rate, what, settings)
        calls = pipe.step_count(request)
        with progress_bar() as bar:
            if settings.frames > pipe.config.max_frames:  # a long video: seconds of it done
                length = round((settings.frames - 1) / settings.fps)
                task = bar.add_task("seconds of video", total=length)
                step = length / calls
            else:
                task, step = bar.add_task("generating", total=calls), 1
            def on_step() -> None:
                phases.step()
                bar.advance(task, step)

            phases.mark("reading the prompt")
            result = pipe.generate(request, on_step=on_step)
            phases.sampled()
        written = result.save(out, marks)
    except (GenerationError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None
    if result.plan is not None:
        where = save_plan(result.plan, out.with_name(out.stem + ".plan.json"))
        console.print(f"planned layout: {where}")
    phases.mark("writing the files")
    print(_written(written))
    if profile:
        console.print(phases.table(), highlight=False)


def _refine_command(kind: str, video: Path, out: Path, prompt: str, model: Path | None,
                    seed: int, plan: Path | None, device: str, dtype: str,
                    marks) -> None:  # fmt: skip
    from sorakit.data.safe_read import REFINE_INPUT
    from sorakit.pipeline import GenerationError, TextToVideoPipeline
    from sorakit.planner import PlanError, load_plan

    check_output(out)
    device, dtype = device_and_dtype(device, dtype)
    frames, fps = read_media(video, "video", REFINE_INPUT)
    try:
        pipe = TextToVideoPipeline.from_pretrained(model, device, dtype)
    except (GenerationError, ValueError, OSError) as exc:
        raise typer.BadParameter(f"cannot load the model: {exc}") from None
    if kind not in pipe.refiners:
        raise typer.BadParameter(f"the model {pipe.source} has no {kind} refiner")
    layout = None
    if plan is not None:
        if not pipe.refiners[kind].config.layout_channels:
            raise typer.BadParameter(f"the model's {kind} refiner does not read plans (--plan)")
        try:
            layout = load_plan(plan)
        except PlanError as exc:
            raise typer.BadParameter(str(exc)) from None
    try:
        with progress_bar() as bar:
            task = bar.add_task(f"{kind} refiner", total=pipe.config.refiner_steps)
            result = pipe.refine_video(kind, frames, fps or 8.0, prompt, seed,
                                       on_step=lambda: bar.advance(task), plan=layout)  # fmt: skip
        print(_written(result.save(out, marks)))
    except (GenerationError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None


_REFINE_PLAN = typer.Option(
    None,
    "--plan",
    help="The output's layout (a plan, e.g. saved by generate at the final size, or a world "
    "clip's annotation) for a refiner that reads plans. Without it the model's text-only "
    "refiner runs, where it has one.",
)


def upscale(
    video: Path = typer.Argument(..., help="A video or image to upscale."),
    out: Path = typer.Option(..., "--out", help="Output: .mp4, .gif or .png."),
    prompt: str = typer.Option("", "--prompt", help="What the video shows (helps the refiner)."),
    model: Path = typer.Option(None, "--model", help="A model folder with a spatial refiner."),
    device: str = DEVICE_OPTION,
    dtype: str = DTYPE_OPTION,
    seed: int = typer.Option(0, "--seed"),
    plan: Path = _REFINE_PLAN,
    no_provenance: bool = NO_PROVENANCE,
    provenance_prompt: bool = PROVENANCE_PROMPT,
    signing_cert: Path = SIGNING_CERT,
    signing_key: Path = SIGNING_KEY,
) -> None:
    """Twice the width and height, with the cascade's spatial refiner (any video: the refiner
    is the cascade stage run alone)."""
    marks = provenance_options(no_provenance, provenance_prompt, signing_cert, signing_key,
                               (video,))  # fmt: skip
    _refine_command("spatial", video, out, prompt, model, seed, plan, device, dtype, marks)


def interpolate(
    video: Path = typer.Argument(..., help="A video to bring to twice its frame rate."),
    out: Path = typer.Option(..., "--out", help="Output: .mp4, .gif or .png."),
    prompt: str = typer.Option("", "--prompt", help="What the video shows (helps the refiner)."),
    model: Path = typer.Option(None, "--model", help="A model folder with a temporal refiner."),
    device: str = DEVICE_OPTION,
    dtype: str = DTYPE_OPTION,
    seed: int = typer.Option(0, "--seed"),
    plan: Path = _REFINE_PLAN,
    no_provenance: bool = NO_PROVENANCE,
    provenance_prompt: bool = PROVENANCE_PROMPT,
    signing_cert: Path = SIGNING_CERT,
    signing_key: Path = SIGNING_KEY,
) -> None:
    """Twice the frame rate (new frames between the given ones), with the cascade's temporal
    refiner."""
    marks = provenance_options(no_provenance, provenance_prompt, signing_cert, signing_key,
                               (video,))  # fmt: skip
    _refine_command("temporal", video, out, prompt, model, seed, plan, device, dtype, marks)
