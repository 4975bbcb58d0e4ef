"""A contact sheet of real outputs: the README's example prompts through the default model.

One row per prompt (the prompt written above it), every 2nd frame across, each frame upscaled
2x with nearest neighbour so the pixels stay visible. Seed 0, the model's default size and frame
rate (64x64, 8 fps, 17 frames), planning as `sorakit generate` does it.

    .venv/bin/python tools/contact_sheet.py                      # docs/images/contact-sheet.png
    .venv/bin/python tools/contact_sheet.py --model MODEL --out sheet.png

About a minute on 2 CPU cores (model loading and six generations).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sorakit.pipeline import GenerationRequest, TextToVideoPipeline

# The README's example prompts ("Prompts it understands"); each is understood whole, so planned.
PROMPTS: tuple[str, ...] = (
    "a red ball falls and bounces",
    "a green ball is thrown to the left",
    "a yellow triangle and a purple ball collide",
    "a red ball falls, then a big blue box moves left",
    "a small cyan ball is above a large orange square",
    "two white boxes slide right",
)

SCALE = 2  # nearest-neighbour upscaling of every frame
EVERY = 2  # every 2nd frame across
GAP = 4  # pixels between frames
MARGIN = 8  # pixels around the sheet
LABEL = 20  # pixels of text above each row
FONT_SIZE = 14
BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)


def generate(pipe, prompt: str, seed: int) -> np.ndarray:
    """uint8 frames (T, H, W, 3) of one generation with the pipeline's defaults."""
    return pipe.generate(GenerationRequest(prompt=prompt, seed=seed)).frames


def sheet(rows: list[tuple[str, np.ndarray]]) -> Image.Image:
    """The grid: for each (prompt, frames), the prompt, then every EVERY-th frame scaled up."""
    try:  # Pillow >= 10.1 scales its default font
        font = ImageFont.load_default(size=FONT_SIZE)
    except TypeError:
        font = ImageFont.load_default()
    picked = [(prompt, frames[::EVERY]) for prompt, frames in rows]
    cell_h = max(f.shape[1] for _, f in picked) * SCALE
    cell_w = max(f.shape[2] for _, f in picked) * SCALE
    across = max(len(f) for _, f in picked)
    width = 2 * MARGIN + across * cell_w + (across - 1) * GAP
    height = 2 * MARGIN + len(picked) * (LABEL + cell_h) + (len(picked) - 1) * GAP
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    y = MARGIN
    for prompt, frames in picked:
        draw.text((MARGIN, y + 2), f'"{prompt}"', fill=TEXT, font=font)
        y += LABEL
        for i, frame in enumerate(frames):
            big = Image.fromarray(frame).resize(
                (frame.shape[1] * SCALE, frame.shape[0] * SCALE), Image.NEAREST
            )
            image.paste(big, (MARGIN + i * (cell_w + GAP), y))
        y += cell_h + GAP
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/contact-sheet.png"))
    parser.add_argument(
        "--model", type=Path, default=None, help="a model folder (default: the shipped model)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pipe = TextToVideoPipeline.from_pretrained(args.model)
    rows = []
    for prompt in PROMPTS:
        print(f"generating: {prompt}", flush=True)
        rows.append((prompt, generate(pipe, prompt, args.seed)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet(rows).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
