"""`sorakit eval ...`: exact evaluation on the built-in world."""

from __future__ import annotations

import dataclasses
import json
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
from sorakit.cli.inputs import DEVICE_OPTION, DTYPE_OPTION, device_and_dtype, finite

eval_app = typer.Typer(
    help="Evaluation: layout, counting, binding and physics fidelity as exact numbers.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _suite(name: str, seeds: int | None):
    from sorakit.eval.suite import SUITES

    if name not in SUITES:
        raise typer.BadParameter(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    config = SUITES[name]
    if seeds is not None:
        config = dataclasses.replace(config, per_category=seeds)
    return config


@eval_app.command("world")
def world(
    out: Path = typer.Option(
        ..., "--out", help="Folder for results.json, report.md, plots/ and failed.png."
    ),
    model: str = typer.Option(
        None,
        "--model",
        help="What to evaluate: `default` (the shipped model), a model folder, `groundtruth` "
        "(the world's own renders, a sanity check), `corrupt:NAME` (truth with one "
        "deliberate failure, e.g. corrupt:shuffle) or `vae:PATH` (truth encoded and decoded "
        "by a VAE folder or a model folder's VAE, `vae:default` for the shipped one: the "
        "ceiling of a model on that latent space).",
    ),
    steps: int = typer.Option(None, "--steps", min=1, help="Sampler steps for a model."),
    sampler: str = SAMPLER_OPTION,
    device: str = DEVICE_OPTION,
    dtype: str = DTYPE_OPTION,
    guidance: float = typer.Option(
        None, "--guidance", help="Guidance scale for a model.", callback=finite
    ),
    guidance_interval: str = GUIDANCE_INTERVAL_OPTION,
    shape_contrast: float = SHAPE_CONTRAST_OPTION,
    planning: bool = typer.Option(
        True,
        "--planning/--no-planning",
        help="For a model that reads layouts: plan understood prompts first, as generate "
        "does (--no-planning: text-only).",
    ),
    refiners: bool = typer.Option(
        True,
        "--refiners/--no-refiners",
        help="For a model with cascade refiners: use them where the suite's size and frame "
        "rate call for them (--no-refiners: the base makes everything itself).",
    ),
    videos: Path = typer.Option(
        None,
        "--videos",
        help="Folder of videos made elsewhere, one "
        "per prompt, named <id>.mp4 (ids from `sorakit eval prompts`).",
    ),
    suite: str = typer.Option(
        "default",
        "--suite",
        help="Prompt suite: default (64x64, 8 fps, "
        "17 frames), quick, wide (96x64), fine (128x128, 24 fps), cascade (128x128, 16 fps), "
        "cascade-temporal (64x64, 16 fps, 33 frames), or long (minute-long videos at the "
        "model's size, scored every 10 s against their plan; a model only).",
    ),
    seconds: float = typer.Option(
        60.0, "--seconds", min=10.0, max=120.0, help="Length of the long suite's videos."
    ),
    seeds: int = typer.Option(
        None,
        "--seeds",
        min=1,
        help="Prompts per category and caption split (overrides the suite's).",
    ),
    save_videos: bool = typer.Option(
        False,
        "--save-videos",
        help="Also write every evaluated video to OUT/videos/<id>.mp4 (score again: --videos).",
    ),
) -> None:
    """Score a generator on the world suite: colour, shape, count, spatial relation, attribute
    binding, motion direction, gravity, throws, collisions, extra objects, object permanence,
    flicker and smoothness, plus a continuation test against freeze and constant-velocity
    baselines. Prints the scores; writes a JSON of every verdict and a Markdown report."""
    from sorakit.data.video import write_video
    from sorakit.eval.generators import make_generator
    from sorakit.eval.report import write_report
    from sorakit.eval.run import evaluate, run_name
    from sorakit.eval.suite import build_suite

    if suite == "long":
        _long(out, model, planning, seconds, device, dtype)
        return
    config = _suite(suite, seeds)
    try:
        interval = parse_interval(guidance_interval)
        generator = make_generator(
            model, videos, steps, guidance, planning, refiners, interval, shape_contrast,
            device=device, dtype=dtype, sampler=sampler,
        )  # fmt: skip
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    total = len(build_suite(config))
    if save_videos:
        (out / "videos").mkdir(parents=True, exist_ok=True)

    def on_item(result) -> None:
        if save_videos and result.analysis is not None:
            video = result.analysis
            write_video(out / "videos" / f"{result.item.id}.mp4", video.frames, video.fps)
        bar.advance(task)

    with progress_bar() as bar:
        task = bar.add_task(f"evaluating {run_name(generator, config)}", total=total)
        evaluation = evaluate(generator, config, on_item=on_item)
    report = write_report(evaluation, out)
    for name, s in evaluation.scores.items():
        console.print(f"{name:>11}: {100 * s.score:5.1f}%  ({s.passed}/{s.total})")
    cont = evaluation.continuation
    console.print(
        "continuation error (world units): "
        + ", ".join(f"{k} {v:.4f}" for k, v in cont.items() if isinstance(v, float))
    )
    print(report)


def _long(out: Path, model: str | None, planning: bool, seconds: float, device: str,
          dtype: str) -> None:  # fmt: skip
    """The long suite: each prompt made into a `seconds`-long video and scored per window."""
    import time

    from sorakit.data.video import write_video
    from sorakit.eval.long import LONG_PROMPTS, run_long, write_long_report
    from sorakit.pipeline import GenerationError, GenerationRequest, TextToVideoPipeline
    from sorakit.pipeline.request import frames_for_seconds

    device, dtype = device_and_dtype(device, dtype)
    folder = None if model in (None, "default") else Path(model)
    try:
        pipe = TextToVideoPipeline.from_pretrained(folder, device, dtype)
    except (GenerationError, ValueError, OSError) as exc:
        raise typer.BadParameter(f"cannot load the model: {exc}") from None
    frames = frames_for_seconds(seconds, pipe.config.fps, pipe.vae.temporal_factor)
    total = sum(len(p) for p in LONG_PROMPTS.values())
    (out / "videos").mkdir(parents=True, exist_ok=True)

    def make(prompt: str):
        request = GenerationRequest(prompt=prompt, frames=frames, planning=planning)
        start = time.perf_counter()
        video = pipe.generate(request)
        plan = video.plan if video.plan is not None else pipe.plan(request)
        name = "-".join(prompt.lower().replace(",", "").split())  # the prompt, as a file name
        write_video(out / "videos" / f"{name}.mp4", video.frames, video.fps)
        return video.frames, plan, time.perf_counter() - start

    with progress_bar() as bar:
        task = bar.add_task(f"long videos ({seconds:g} s each)", total=total)
        results = run_long(make, on_video=lambda _: bar.advance(task))
    print(write_long_report(results, out))


@eval_app.command("prompts")
def prompts(
    out: Path = typer.Option(..., "--out", help="Folder for prompts.jsonl and continuation/."),
    suite: str = typer.Option("default", "--suite", help="Prompt suite (see `eval world`)."),
    seeds: int = typer.Option(None, "--seeds", min=1, help="Prompts per category and split."),
) -> None:
    """Write the suite's prompts (id, category, prompt, size, fps, frames) to prompts.jsonl and
    the continuation test's context clips to continuation/<id>.mp4, so videos can be made
    elsewhere and scored with `sorakit eval world --videos DIR`."""
    from sorakit.data.video import write_video
    from sorakit.eval.generators import GroundTruth
    from sorakit.eval.suite import build_continuation, build_suite

    config = _suite(suite, seeds)
    (out / "continuation").mkdir(parents=True, exist_ok=True)
    rows = [item.to_json() for item in build_suite(config)]
    for cont in build_continuation(config):
        frames = GroundTruth().generate(cont.item).frames[: cont.context_frames]
        write_video(out / "continuation" / f"{cont.item.id}.mp4", frames, cont.item.fps)
        rows.append(
            {
                **cont.item.to_json(),
                "context_frames": cont.context_frames,
                "context": f"continuation/{cont.item.id}.mp4",
            }
        )
    (out / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    console.print(f"{len(rows)} prompts")
    print(out / "prompts.jsonl")
