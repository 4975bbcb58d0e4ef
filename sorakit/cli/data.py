"""`sorakit data ...`: render built-in world clips and check manifests."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

data_app = typer.Typer(
    help="Datasets: render built-in world clips, check manifests of real videos.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
console = Console(stderr=True)


def _parse_list(text: str, parse, what: str) -> tuple:
    try:
        values = tuple(parse(part.strip()) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"cannot read {what} from {text!r}: {exc}") from None
    if not values:
        raise typer.BadParameter(f"no {what} given")
    return values


def _parse_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep:
        raise ValueError("sizes are WIDTHxHEIGHT, e.g. 64x64")
    return int(width), int(height)


# Learning-rate schedule options, shared by `train` and `train-vae`.
WARMUP_OPTION = typer.Option(None, "--warmup", min=0, help="Steps of linear learning-rate warm-up.")
LR_DECAY_OPTION = typer.Option(
    None, "--lr-decay", help="After warm-up: constant, or cosine down to a tenth at --steps."
)
STOP_AFTER_OPTION = typer.Option(
    None,
    "--stop-after",
    min=1,
    help="Stop after this step with a checkpoint, as Ctrl-C does, keeping the schedule of "
    "--steps (a run in stages; rerun without it to go on).",
)


DETERMINISTIC_OPTION = typer.Option(
    False,
    "--deterministic",
    help="One thread and deterministic kernels: two runs, or a run and its resume, give "
    "bit-identical weights (slower).",
)


# Sampling options shared by `generate` and `eval world` (`parse_interval`: `build-model` too).
SAMPLER_OPTION = typer.Option(
    None,
    "--sampler",
    help="distilled (the default model's: 4 steps, guidance built in, --steps 1 to 4), euler "
    "(the full sampler: 30 steps with guidance, the way the model was trained) or heun. More "
    "than 4 --steps without --sampler runs euler. Default: the model's.",
)
SHAPE_CONTRAST_OPTION = typer.Option(
    None,
    "--shape-contrast",
    min=0.0,
    max=1e6,  # also refuses infinity; NaN fails the min
    help="With a plan: push each small disc (at most 2.5 latent cells across) that holds "
    "still away from a square by this much (they come out square without it), at the cost "
    "of a third model pass a step inside the model's shape-contrast interval; 0 turns it "
    "off. Default: the model's.",
)
GUIDANCE_INTERVAL_OPTION = typer.Option(
    None,
    "--guidance-interval",
    help="LO,HI: guide only at sampler times t in [LO, HI] (t = 1 is pure noise), the "
    "conditional pass alone elsewhere; 0,1 guides everywhere. Default: the model's (which "
    "may differ for planned and text-only generation).",
)


def parse_interval(
    text: str | None, option: str = "--guidance-interval"
) -> tuple[float, float] | None:
    """'LO,HI' -> (LO, HI), checked; None stays None (the model's default). `option` names
    the option in the error."""
    if text is None:
        return None
    from sorakit.diffusion import check_guidance_interval

    try:
        lo, hi = (float(v) for v in text.split(","))
        check_guidance_interval((lo, hi))
    except ValueError as exc:
        raise typer.BadParameter(f"{option} {text!r}: give LO,HI with 0 <= LO < HI <= 1") from exc
    return lo, hi


def report_stopped_early(step: int, out: Path, after: int | None = None, show: bool = True) -> None:
    """After Ctrl-C or SIGTERM (exit 130, interrupted) or reaching --stop-after `after` (exit
    0, a stage done; every rank agrees on this): say where the run is kept (if `show`: under
    torchrun only the main rank speaks, every rank exits with the same code)."""
    signalled = after is None or step < after
    again = "the same command" if signalled else "without --stop-after"
    if show:
        console.print(
            f"stopped at step {step}; its checkpoint is in {out / 'checkpoints'}. "
            f"Rerun {again} to continue.",
            highlight=False,
        )
    raise typer.Exit(130 if signalled else 0)


def progress_bar(disable: bool = False) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=disable,
    )


@data_app.command("synth")
def synth(
    out: Path = typer.Option(
        ...,
        "--out",
        help="Folder for clips/, their JSON annotations and "
        "manifest.jsonl. Rerunning into the same folder resumes.",
    ),
    num: int = typer.Option(200, "--num", min=1, help="Number of clips."),
    seed: int = typer.Option(0, "--seed", help="Base seed; clip i depends only on (seed, i)."),
    size: str = typer.Option(
        "64x64",
        "--size",
        help="Canvas sizes WIDTHxHEIGHT, comma separated; "
        "each clip picks one, e.g. 64x64,96x64,64x96 (even numbers: H.264).",
    ),
    fps: str = typer.Option("8", "--fps", help="Frame rates to pick from, e.g. 8,12,24."),
    frames: str = typer.Option(
        "17", "--frames", help="Frame counts to pick from, e.g. 1,17,33; 1 writes a PNG image."
    ),
    split: str = typer.Option("train", "--split", help="Caption templates: train or heldout."),
    workers: int = typer.Option(0, "--workers", min=0, help="Processes; 0 uses every core."),
) -> None:
    """Render captioned, annotated clips of the built-in physics world.

    Writes OUT/clips/NNNNNN.mp4 (or .png for 1-frame clips), OUT/clips/NNNNNN.json with the
    exact scene and per-frame object states, and OUT/manifest.jsonl (path, caption, fps, ...),
    which training and `sorakit data check` read.
    """
    import os

    from sorakit.data.manifest import write_manifest
    from sorakit.data.synth import MANIFEST_NAME, SynthConfig, iter_clips
    from sorakit.world.sampling import SceneSamplingError

    try:
        cfg = SynthConfig(
            out=out,
            num=num,
            seed=seed,
            sizes=_parse_list(size, _parse_size, "sizes"),
            fps=_parse_list(fps, float, "frame rates"),
            frames=_parse_list(frames, int, "frame counts"),
            split=split,
            workers=workers or os.cpu_count() or 1,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    rows, new = [], 0
    start = time.perf_counter()
    try:
        with progress_bar() as bar:
            task = bar.add_task("rendering world clips", total=num)
            for row, written in iter_clips(cfg):
                rows.append(row)
                new += written
                bar.advance(task)
    except (OSError, SceneSamplingError) as exc:
        console.print(f"error: {exc}")
        raise typer.Exit(1) from None
    seconds = time.perf_counter() - start
    write_manifest(out / MANIFEST_NAME, rows)
    resumed = f", {num - new} already there" if new < num else ""
    console.print(
        f"wrote {new} clips in {seconds:.1f} s ({new / max(seconds, 1e-9):.2f} clips/s"
        f"{resumed}) to {out / 'clips'}"
    )
    print(out / MANIFEST_NAME)


@data_app.command("check")
def check(
    manifest: Path = typer.Argument(
        ...,
        help="A manifest: .jsonl (one JSON object per line) "
        "or .csv with a header; columns path, caption, and "
        "optionally fps, start, end.",
    ),
) -> None:
    """Report every problem in a manifest: bad rows, missing, empty, truncated or undecodable
    files, ranges past the clip's end. Each problem is one line with its row number; the exit
    status is 1 when there is any problem, 0 when every row can be used."""
    from sorakit.data.check import check_manifest, format_problem
    from sorakit.data.manifest import ManifestError, read_manifest

    try:
        rows, _ = read_manifest(manifest)
        with progress_bar() as bar:
            task = bar.add_task("checking clips", total=len(rows))
            problems = check_manifest(manifest, on_row=lambda: bar.advance(task))
    except ManifestError as exc:
        console.print(f"error: {exc}")
        raise typer.Exit(2) from None
    for problem in problems:
        print(format_problem(problem))
    console.print(f"{manifest}: {len(rows)} rows with a path, {len(problems)} problems")
    raise typer.Exit(1 if problems else 0)


@data_app.command("vocab")
def vocab() -> None:
    """Print the world's vocabulary as JSON: palette, shapes, sizes, motions, relation and
    temporal words, and every word any caption can contain (train and held-out phrasings)."""
    import json

    from sorakit.world import vocab as v

    print(
        json.dumps(
            {
                "palette": v.PALETTE,
                "background": v.BACKGROUND,
                "shapes": v.SHAPE_WORDS,
                "sizes": {
                    name: {"fraction": v.SIZES[name], "words": words}
                    for name, words in v.SIZE_WORDS.items()
                },
                "counts": v.COUNT_WORDS,
                "motions": v.MOTIONS,
                "relations": v.RELATION_WORDS,
                "temporal": v.TEMPORAL_WORDS,
                "words": v.vocabulary(),
            },
            indent=1,
        )
    )
