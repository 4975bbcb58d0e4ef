"""`sorakit distill`: the transformer distilled into a few-step sampler with guidance built in.

Three commands, in order: `trajectories` (the teacher's guided runs), `train` (the student)
and `install` (the student into a model folder, as its default sampler).
"""

from __future__ import annotations

from pathlib import Path

import typer

from sorakit.cli.data import (
    LR_DECAY_OPTION,
    STOP_AFTER_OPTION,
    console,
    progress_bar,
    report_stopped_early,
)

distill_app = typer.Typer(
    help="Distil a model's transformer into a 1- to 4-step sampler with guidance built in: "
    "`trajectories`, then `train`, then `install`.",
    no_args_is_help=True,
)

MODEL_OPTION = typer.Option(
    "default", "--model", help="The teacher: `default` (the shipped model) or a model folder."
)


@distill_app.command("trajectories")
def trajectories(
    out: Path = typer.Option(..., "--out", help="Folder for the trajectory shards."),
    model: str = MODEL_OPTION,
    num: int = typer.Option(1200, "--num", min=1, help="Trajectories to make."),
    seed: int = typer.Option(
        50_000, "--seed", min=0, help="First world-scene seed (captions come from the scenes)."
    ),
    batch: int = typer.Option(16, "--batch", min=1, help="Trajectories sampled side by side."),
    threads: int = typer.Option(None, "--threads", min=1, help="CPU threads (default: all)."),
) -> None:
    """Run the teacher's full guided sampler (32 Euler steps, guidance and shape contrast as
    `generate` uses them) on the world's training captions, planned, text only and from a
    given first frame, and keep every other state of each run. Rerun the same command to
    finish an interrupted run: finished shards are kept."""
    from sorakit.pipeline.errors import GenerationError
    from sorakit.train.distill import TrajectoryConfig, make_trajectories

    config = TrajectoryConfig(model=model, out=str(out), num=num, seed=seed, batch=batch,
                              threads=threads)  # fmt: skip
    with progress_bar() as bar:
        task = bar.add_task("teacher trajectories", total=None)
        try:
            make_trajectories(config, lambda done, total: bar.update(task, completed=done,
                                                                     total=total))  # fmt: skip
        except (GenerationError, OSError) as exc:
            raise typer.BadParameter(str(exc)) from None
    print(out)


@distill_app.command("train")
def train(
    trajectories: Path = typer.Option(
        ..., "--trajectories", help="A folder from `sorakit distill trajectories`."
    ),
    out: Path = typer.Option(..., "--out", help="Run folder (checkpoints/, model/)."),
    init: str = MODEL_OPTION,
    steps: int = typer.Option(1500, "--steps", min=1, help="Optimizer steps."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Pairs per step."),
    lr: float = typer.Option(1e-4, "--lr", min=0.0, help="Peak learning rate."),
    lr_decay: str = LR_DECAY_OPTION,
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", min=1),
    dtype: str = typer.Option(
        "bf16", "--dtype", help="fp32 or bf16 (bf16 is fast only on CPUs with AMX or AVX512-BF16)."
    ),
    threads: int = typer.Option(None, "--threads", min=1, help="CPU threads (default: all)."),
    stop_after: int = STOP_AFTER_OPTION,
) -> None:
    """Train the student: the teacher's transformer with a step-size input, learning the jump
    between two states of a teacher trajectory in one pass. Every checkpoint logs the held-out
    error of its 1-, 2- and 4-step samples against the teacher's. Ctrl-C stops with a
    checkpoint; rerun the same command to continue."""
    from sorakit.train.distill import DistillConfig, Distiller
    from sorakit.train.stop import StopOnSignal

    try:
        config = DistillConfig(
            trajectories=str(trajectories), out=str(out), init=init, steps=steps,
            batch_size=batch_size, lr=lr, lr_decay=lr_decay or "cosine",
            checkpoint_every=checkpoint_every, dtype=dtype, threads=threads,
        )  # fmt: skip
        distiller = Distiller(config)
        distiller.resume()
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from None

    def on_check(step: int, errors: dict[int, float]) -> None:
        text = "  ".join(f"{n}-step {e:.4f}" for n, e in errors.items())
        console.print(f"step {step}: held-out error against the teacher  {text}", highlight=False)

    with StopOnSignal(stop_after) as stop, progress_bar() as bar:
        task = bar.add_task("distilling", total=steps, completed=distiller.step)

        def on_step(step: int, loss: float) -> None:
            bar.update(task, completed=step, description=f"distilling  loss {loss:.4f}")

        folder = distiller.run(on_step, on_check, stop)
    if folder is None:
        report_stopped_early(distiller.step, out, stop_after)
    print(folder)


@distill_app.command("install")
def install(
    student: Path = typer.Option(..., "--student", help="`distill train`'s OUT/model."),
    into: Path = typer.Option(..., "--into", help="The model folder to add it to."),
    steps: int = typer.Option(4, "--steps", min=1, max=4, help="Its default step count."),
) -> None:
    """Add a distilled transformer to a model folder and make it the default sampler
    (`generate --sampler euler`, or more than 4 steps, still runs the full one)."""
    from sorakit.pipeline.errors import GenerationError
    from sorakit.pipeline.pipeline import install_distilled

    try:
        install_distilled(into, student, steps)
    except (GenerationError, ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from None
    print(into)
