"""`sorakit plan`: a prompt parsed into a scene graph, laid out and simulated into boxes."""

from __future__ import annotations

from pathlib import Path

import typer

from sorakit.cli.data import console
from sorakit.cli.inputs import finite


def plan(
    prompt: str = typer.Argument(..., help="e.g. 'a red ball falls, then a blue box moves left'."),
    out: Path = typer.Option(None, "--out", help="Write the plan here (JSON); default: print."),
    width: int = typer.Option(64, "--width", help="Canvas width in pixels."),
    height: int = typer.Option(64, "--height", help="Canvas height in pixels."),
    fps: float = typer.Option(
        8.0, "--fps", help="Frame rate of the simulated boxes.", callback=finite
    ),
    frames: int = typer.Option(17, "--frames", min=1, help="Number of frames."),
    seed: int = typer.Option(0, "--seed", help="Chooses the layout among the valid ones."),
    text_encoder: str = typer.Option(
        "minilm", "--text-encoder", help="Reads unknown words as the nearest known ones."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="For a prompt the world cannot show, stop (exit code 2) "
        "instead of planning the nearest prompt it can."
    ),
) -> None:
    """Plan a prompt: objects (count, colour, shape, size, motion), relations and order of
    events, then per-frame object boxes from the world's physics.

    Ordinary English works: shades ("navy", "gold") become the nearest of the world's eight
    colours, nouns ("orb", "crate", "pyramid") its shapes, verbs ("drifts", "sinks", "is
    tossed") its motions. Other words are read as the nearest known word (shown), or reported.
    A prompt the world cannot show is reported with the nearest prompts it can, and the first
    of those is planned. What the prompt leaves open (a colour, a size, the side of "next to")
    the plan picks and lists as assumed. The plan is plain JSON in the world's annotation
    format (see `sorakit.planner.plan`): edit the boxes and render it with `sorakit generate
    --plan`.
    """
    import json

    from sorakit.models.text import TextEncoder
    from sorakit.planner import PlanError, Planner, make_plan, save_plan

    if width < 8 or height < 8:
        raise typer.BadParameter("the canvas must be at least 8x8 pixels")
    try:
        planner = Planner(TextEncoder.from_pretrained(text_encoder))
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(f"cannot load the text encoder: {exc}") from None
    reading = planner.read(prompt)
    if not reading.drawable:
        console.print(f"{'error' if strict else 'note'}: {reading.refusal()}",
                      highlight=False, soft_wrap=True)  # fmt: skip
        if strict:
            raise typer.Exit(2)
        console.print(f"planning '{reading.nearest[0]}'", highlight=False)
        reading = planner.read(reading.nearest[0])
    parsed = reading.parsed
    for word, known in parsed.substitutions.items():
        console.print(f"read '{word}' as '{known}'")
    if reading.ignored:
        console.print(f"nothing drawn for: {', '.join(reading.ignored)}")
    try:
        result = make_plan(parsed, width, height, fps, frames, seed)
    except PlanError as exc:
        raise typer.BadParameter(str(exc)) from None
    for line in result["assumed"]:
        console.print(f"assumed: {line}", highlight=False)
    _describe(result)
    if out is None:
        print(json.dumps(result, indent=1))
    else:
        print(save_plan(result, out))


def _describe(result: dict) -> None:
    for g in result["groups"]:
        motion = g["motion"] + (f" {g['direction']}" if g["direction"] else "")
        air = " (in the air)" if g["in_air"] else ""
        console.print(f"{g['count']} x {g['size']} {g['colour']} {g['shape']}: {motion}{air}")
    for r in result["relations"]:
        console.print(f"group {r['subject']} {r['word']} group {r['object']}")
    if result["sequence"]:
        s = result["sequence"]
        when = "when it lands" if s["on_landing"] else "after a delay"
        console.print(f"group {s['second']} starts after group {s['first']} ({when})")
