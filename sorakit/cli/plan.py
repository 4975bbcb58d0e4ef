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
) -> None:
    """Plan a prompt: objects (count, colour, shape, size, motion), relations and order of
    events over the world's vocabulary, then per-frame object boxes from the world's physics.

    Words the planner does not know are read as the nearest known word (shown), or reported as
    unplaced. The plan is plain JSON in the world's annotation format (see
    `sorakit.planner.plan`): edit the boxes and render it with `sorakit generate --plan`.
    """
    import json

    from sorakit.models.text import TextEncoder
    from sorakit.planner import PlanError, Substituter, make_plan, parse, save_plan

    if width < 8 or height < 8:
        raise typer.BadParameter("the canvas must be at least 8x8 pixels")
    try:
        substitute = Substituter(TextEncoder.from_pretrained(text_encoder))
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(f"cannot load the text encoder: {exc}") from None
    parsed = parse(prompt, substitute)
    for word, known in parsed.substitutions.items():
        console.print(f"read '{word}' as '{known}'")
    for note in parsed.assumed:
        console.print(f"assumed: {note}")
    if parsed.unplaced:
        console.print(f"[yellow]could not place:[/] {', '.join(parsed.unplaced)}")
    try:
        result = make_plan(parsed, width, height, fps, frames, seed)
    except PlanError as exc:
        raise typer.BadParameter(str(exc)) from None
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
    if out is None:
        print(json.dumps(result, indent=1))
    else:
        print(save_plan(result, out))
