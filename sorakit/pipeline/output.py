"""A generated video and the files it is saved as."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sorakit.data.video import write_video
from sorakit.fileio import atomic_write
from sorakit.pipeline import marks
from sorakit.pipeline.errors import GenerationError
from sorakit.pipeline.provenance import Provenance
from sorakit.provenance.options import ProvenanceOptions
from sorakit.provenance.watermark import embed

OUTPUT_TYPES = (".mp4", ".gif", ".png")


@dataclass
class GeneratedVideo:
    """uint8 frames (T, H, W, 3), their frame rate and how they were made."""

    frames: np.ndarray
    fps: float
    provenance: Provenance
    plan: dict[str, Any] | None = None  # the layout it was generated from, if planned

    def save(self, path: str | Path, options: ProvenanceOptions | None = None) -> list[Path]:
        """Write .mp4 (H.264, provenance in its metadata), .gif, or .png (one image, or
        NAME_0000.png... for a video), plus a sidecar NAME.json with the provenance. Returns
        the media files written.

        Unless `options` turn provenance off, the pixels carry an invisible watermark (every
        format) and an .mp4 a signed C2PA manifest (docs/provenance.md)."""
        options = options or ProvenanceOptions()
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in OUTPUT_TYPES:
            raise GenerationError(f"{path}: unknown output type; use .mp4, .gif or .png")
        path.parent.mkdir(parents=True, exist_ok=True)
        record = self.provenance.to_dict()
        pixels, payload = self.frames, marks.watermark_payload(record)
        if options.enabled:
            pixels = embed(_even(self.frames), payload, marks.WATERMARK)
            pixels = pixels[:, : self.frames.shape[1], : self.frames.shape[2]]
            record["watermark"] = marks.watermark_record(payload)
        written = [path]
        if suffix == ".mp4":
            frames, meta = _even(pixels), {"comment": json.dumps(record, sort_keys=True)}

            def write(p: Path) -> None:
                write_video(p, frames, self.fps, metadata=meta)

            if options.enabled:
                generation = marks.assertion(self.provenance, self.plan, payload, options)
                write = marks.signed(write, generation, options)
            atomic_write(path, write)
        elif suffix == ".gif":
            images = [Image.fromarray(f) for f in pixels]
            atomic_write(
                path,
                lambda p: images[0].save(
                    p, format="GIF", save_all=True, append_images=images[1:],
                    duration=round(1000 / self.fps), loop=0,
                ),
            )  # fmt: skip
        elif len(pixels) == 1:
            atomic_write(path, lambda p: Image.fromarray(pixels[0]).save(p, "PNG"))
        else:
            written = [path.with_name(f"{path.stem}_{i:04d}.png") for i in range(len(pixels))]
            for target, frame in zip(written, pixels, strict=True):
                atomic_write(target, lambda p, f=frame: Image.fromarray(f).save(p, "PNG"))
        sidecar = path.with_suffix(".json")
        atomic_write(sidecar, lambda p: p.write_text(json.dumps(record, indent=1)))
        return written


def _even(frames: np.ndarray) -> np.ndarray:
    """H.264 needs even sides: pad odd ones by repeating the last row/column."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if not (pad_h or pad_w):
        return frames
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
