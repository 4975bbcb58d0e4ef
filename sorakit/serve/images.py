"""`input_reference`: an image to animate, sent as base64 (a data: URL or the bare text).

The request path checks and shrinks it once (`normalise_image`), so the job store holds a small
PNG, never what a client sent; the worker decodes that PNG (`decode_image`).
"""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image

MAX_REFERENCE_CHARS = 16_000_000  # base64 of about 12 MB
MAX_REFERENCE_PIXELS = 40_000_000  # larger ones are refused before they are decoded
MAX_STORED_SIDE = 512  # the largest size a job asks for: more would only be scaled away


def decode_image(text: str) -> Image.Image:
    """An RGB image from base64 PNG, JPEG, ...; ValueError, with a reason, for anything else."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("input_reference is not base64") from None
    try:
        image = Image.open(io.BytesIO(raw))
        if image.width * image.height > MAX_REFERENCE_PIXELS:
            raise ValueError(f"input_reference is over {MAX_REFERENCE_PIXELS} pixels")
        return image.convert("RGB")
    except (OSError, Image.DecompressionBombError, SyntaxError):
        raise ValueError("input_reference is not an image PIL can read") from None


def normalise_image(text: str) -> str:
    """The image of `text`, at most MAX_STORED_SIDE a side, as base64 PNG."""
    image = decode_image(text)
    image.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE))
    out = io.BytesIO()
    image.save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")
