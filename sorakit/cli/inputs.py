"""What every command checks before it starts work: its output path, its numbers, its inputs.

Each check fails with a BadParameter naming the option or file, which `sorakit.cli.main`
prints as one line with exit code 2.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import typer

from sorakit.cli.data import console

MEDIA_OUTPUTS = (".mp4", ".gif", ".png")


def check_output(out: Path, suffixes: tuple[str, ...] = MEDIA_OUTPUTS) -> None:
    """`--out` has a known type and its folder can be written, before anything is computed."""
    if out.suffix.lower() not in suffixes:
        raise typer.BadParameter(
            f"{out}: unknown output type; use {', '.join(suffixes)}", param_hint="'--out'"
        )
    if out.is_dir():
        raise typer.BadParameter(f"{out} is a folder; give a file name", param_hint="'--out'")
    # The folder is made only when the output is written: probe the nearest one there is.
    folder = out.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        if not folder.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise typer.BadParameter(
            f"cannot write to {folder}: {reason}", param_hint="'--out'"
        ) from None


DEVICE_OPTION = typer.Option(
    "cpu",
    "--device",
    help="auto (CUDA, then MPS, then the CPU), cpu, cuda, cuda:N or mps. A seed gives the same "
    "video on the same kind of device.",
)
DTYPE_OPTION = typer.Option(
    "fp32",
    "--dtype",
    help="Compute precision: fp32, bf16 or fp16 (autocast; weights stay fp32). bf16 is fast on "
    "GPUs and on CPUs with bf16 units (AMX), slow on CPUs that emulate it.",
)


def device_and_dtype(device: str, dtype: str):
    """`--device` and `--dtype` resolved, or one clear error naming the option."""
    from sorakit.device import resolve_device, resolve_dtype

    resolved = []
    for resolve, value, option in ((resolve_device, device, "'--device'"),
                                   (resolve_dtype, dtype, "'--dtype'")):  # fmt: skip
        try:
            resolved.append(resolve(value))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint=option) from None
    return tuple(resolved)


def finite(value: float | None) -> float | None:
    """A typer callback: NaN and infinity are refused where they are typed."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def read_media(path: Path, what: str, limit):
    """Frames (T, H, W, 3) uint8 and fps of a user's image or video, decoded in a child process
    within `limit` (`sorakit.data.safe_read`), or one clear error."""
    from sorakit.data.safe_read import read_untrusted
    from sorakit.data.video import VideoReadError

    try:
        clip = read_untrusted(path, limit)
    except VideoReadError as exc:
        raise typer.BadParameter(f"cannot read the {what}: {exc}") from None
    return clip.frames, clip.fps


def note(text: str) -> None:
    console.print(f"note: {text}", highlight=False, soft_wrap=True)  # one line, unwrapped
