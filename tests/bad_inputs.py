"""Makes the bad-input corpus at test time: media files and model folders, broken in the ways
users and attackers break them. Nothing here is committed but the recipe.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from sorakit.data.video import write_video


def _noise(frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, height, width, 3), np.uint8)


def _png(path: Path, image: Image.Image) -> Path:
    image.save(path)
    return path


# --- media: name -> maker(folder) -> path ---
def zero_byte(folder: Path) -> Path:
    path = folder / "empty.mp4"
    path.write_bytes(b"")
    return path


def text_as_mp4(folder: Path) -> Path:
    path = folder / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    return path


def text_as_png(folder: Path) -> Path:
    path = folder / "notes.png"
    path.write_text("this is not an image\n")
    return path


def truncated_h264(folder: Path) -> Path:
    whole = folder / "whole.mp4"
    write_video(whole, _noise(17, 64, 64), 8.0)
    path = folder / "truncated.mp4"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    whole.unlink()
    return path


def huge_png(folder: Path) -> Path:
    # 8000x8000 of one colour: a few hundred KB on disk, 192 MB decoded, more in any model.
    return _png(folder / "huge.png", Image.new("RGB", (8000, 8000), (200, 30, 30)))


def one_frame_mp4(folder: Path) -> Path:
    path = folder / "one.mp4"
    write_video(path, _noise(1, 64, 64), 8.0)
    return path


def ntsc_rate(folder: Path) -> Path:
    path = folder / "ntsc.mp4"
    write_video(path, _noise(30, 64, 64), 30000 / 1001)
    return path


def cinema_wide(folder: Path) -> Path:
    path = folder / "wide.mp4"
    write_video(path, _noise(9, 64, 150), 8.0)
    return path


def rgba_png(folder: Path) -> Path:
    rgba = np.dstack([_noise(1, 64, 64)[0], np.full((64, 64), 128, np.uint8)])
    return _png(folder / "rgba.png", Image.fromarray(rgba, "RGBA"))


def sixteen_bit_png(folder: Path) -> Path:
    deep = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)
    return _png(folder / "deep.png", Image.fromarray(deep))


def grey_png(folder: Path) -> Path:
    return _png(folder / "grey.png", Image.fromarray(_noise(1, 64, 64)[0, :, :, 0], "L"))


def plain_png(folder: Path) -> Path:
    return _png(folder / "plain.png", Image.fromarray(_noise(1, 64, 64)[0]))


def plain_mp4(folder: Path) -> Path:
    path = folder / "plain.mp4"
    write_video(path, _noise(17, 64, 64), 8.0)
    return path


def large_frames(folder: Path) -> Path:
    path = folder / "large.mp4"
    write_video(path, _noise(5, 264, 256), 8.0)  # just over the refiners' 256x256 a frame
    return path


MEDIA: dict[str, Callable[[Path], Path]] = {
    f.__name__: f
    for f in (zero_byte, text_as_mp4, text_as_png, truncated_h264, huge_png, one_frame_mp4,
              ntsc_rate, cinema_wide, rgba_png, sixteen_bit_png, grey_png, plain_png, plain_mp4,
              large_frames)
}  # fmt: skip


# --- model folders: name -> breaker(model folder), applied to a copy of a good one ---
def _edit_json(path: Path, change: Callable) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def no_pipeline_json(model: Path) -> None:
    (model / "pipeline.json").unlink()


def pipeline_json_list(model: Path) -> None:
    (model / "pipeline.json").write_text("[1, 2, 3]")


def pipeline_json_truncated(model: Path) -> None:
    text = (model / "pipeline.json").read_text()
    (model / "pipeline.json").write_text(text[: len(text) // 2])


def pipeline_unknown_key(model: Path) -> None:
    _edit_json(model / "pipeline.json", lambda c: {**c, "stpes": 5})


def pipeline_wrong_type(model: Path) -> None:
    _edit_json(model / "pipeline.json", lambda c: {**c, "width": "wide"})


def transformer_unknown_key(model: Path) -> None:
    _edit_json(model / "transformer" / "config.json", lambda c: {**c, "depht": 3})


def transformer_config_list(model: Path) -> None:
    (model / "transformer" / "config.json").write_text("[]")


def transformer_weights_truncated(model: Path) -> None:
    weights = model / "transformer" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])


def transformer_weights_missing(model: Path) -> None:
    (model / "transformer" / "model.safetensors").unlink()


def vae_folder_missing(model: Path) -> None:
    shutil.rmtree(model / "vae")


def weights_swapped(model: Path) -> None:
    """Weights that still load but are not the ones pipeline.json names by sha256."""
    weights = model / "vae" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # the last byte of the last tensor
    weights.write_bytes(bytes(data))


def pickle_text_encoder(model: Path) -> None:
    """A text encoder folder that holds only a pickle: loading must refuse it unread."""
    encoder = model / "encoder"
    encoder.mkdir()
    (encoder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    # Not a real pickle: if anything tried to unpickle it, the error would not be ours.
    (encoder / "pytorch_model.bin").write_bytes(b"\x80\x04not a pickle at all")
    _edit_json(model / "pipeline.json", lambda c: {**c, "text_encoder": str(encoder)})


MODEL_BREAKERS: dict[str, Callable[[Path], None]] = {
    f.__name__: f
    for f in (no_pipeline_json, pipeline_json_list, pipeline_json_truncated, pipeline_unknown_key,
              pipeline_wrong_type, transformer_unknown_key, transformer_config_list,
              transformer_weights_truncated, transformer_weights_missing, vae_folder_missing,
              weights_swapped, pickle_text_encoder)
}  # fmt: skip
