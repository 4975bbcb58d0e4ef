"""Entry point of the `sorakit` command: one typer app with a sub-app per area.

Each command imports its heavy modules (torch, the models) inside its function, so that
`sorakit --help` and a mistyped option answer at once instead of after torch loads.

Errors end in one line on stderr: `error: ...` with exit code 2 for what the user gave (an
option, a file, a model folder), `internal error: ...` with exit code 1 for a bug; the
traceback of an internal error is printed only with SORAKIT_DEBUG=1.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import traceback

import click
import typer

from sorakit.cli.data import data_app
from sorakit.cli.distill import distill_app
from sorakit.cli.eval import eval_app
from sorakit.cli.generate import generate, interpolate, upscale
from sorakit.cli.plan import plan
from sorakit.cli.serve import serve
from sorakit.cli.train import build_model, preprocess, train
from sorakit.cli.vae import eval_vae, reconstruct, train_vae
from sorakit.cli.verify import verify

app = typer.Typer(
    name="sorakit",
    help="sorakit: text-to-video with a causal video VAE, spacetime patches and a diffusion "
    "transformer, plus a built-in physics world for training and exact evaluation.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")
app.add_typer(eval_app, name="eval")
app.add_typer(distill_app, name="distill")
app.command("generate")(generate)
app.command("plan")(plan)
app.command("serve")(serve)
app.command("upscale")(upscale)
app.command("interpolate")(interpolate)
app.command("train-vae")(train_vae)
app.command("reconstruct")(reconstruct)
app.command("preprocess")(preprocess)
app.command("train")(train)
app.command("build-model")(build_model)
app.command("verify")(verify)
eval_app.command("vae")(eval_vae)


# typer >= 0.20 carries its own copy of click: catch that copy's exceptions and click's alike.
_TYPER_CLICK = [c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"]
_CLICK_ERRORS = tuple({click.ClickException, *_TYPER_CLICK})
_EXITS = (click.exceptions.Exit, typer.Exit)
_ABORTS = (click.exceptions.Abort, typer.Abort)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (default: the process's); returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = app(args=argv, prog_name="sorakit", standalone_mode=False)
    except _EXITS as done:
        return done.exit_code
    except _ABORTS:
        print("error: interrupted", file=sys.stderr)
        return 130
    except _CLICK_ERRORS as exc:  # a bad option, argument or input: the user's to fix
        # A BadParameter raised without an option names none: drop click's empty lead-in.
        message = _one_line(exc.format_message()).removeprefix("Invalid value: ")
        print(f"error: {message}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory; try a smaller size or fewer frames", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: say so in one line, keep the traceback for debugging
        if os.environ.get("SORAKIT_DEBUG"):
            traceback.print_exc()
        where = "" if os.environ.get("SORAKIT_DEBUG") else " (SORAKIT_DEBUG=1 shows where)"
        print(f"internal error: {type(exc).__name__}: {_one_line(exc)}{where}", file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0


def entry_point() -> None:
    code = main()
    # A finished command has closed its files; what is left is the interpreter's own teardown,
    # which with torch loaded takes about 0.4 s (its modules and native thread pools freed one
    # by one): longer than sampling a clip. Exit-time handlers (logging's flush) still run.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry_point()
