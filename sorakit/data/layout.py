"""Layout maps: where each object is on each latent frame, as extra per-token input.

A layout is read from the world's annotation format (WORLD.md: `scene` with the canvas, and
per frame every object's colour, shape and pixel `bbox`). Training reads the annotation beside
each clip; generation reads a plan (`sorakit.planner`), which uses the same format, so one
function serves both.

The map has `layout_channels(frames)` channels on the latent grid (T, H, W):
- `present`: 1 everywhere when a layout is given, 0 when it is dropped. Without it "no layout"
  would read as "no object anywhere", which is itself a strong instruction;
- `occupancy`: the fraction of the latent cell that some object's box covers, on `frames`
  channels (below);
- one channel per palette colour and per shape: the covered fraction by objects of that kind.

A latent frame encodes several pixel frames (the causal VAE's latent 0 is frame 0, latent k the
frames tf*(k-1)+1 .. tf*k). With `frames=1` each map averages them, so a moving box leaves a
streak, as a block-mean latent does (`LAYOUT_CHANNELS`, the `world` transformer's format). With
`frames=tf` occupancy keeps one channel per pixel frame, so the order of the positions inside a
latent frame (where a falling ball is on each of its frames) is given, not guessed; latent 0
repeats frame 0 on every one. This matches a VAE whose latent keeps each frame (`world-f`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sorakit.world.vocab import COLOURS, SHAPES


def layout_channels(frames: int = 1) -> int:
    """Channels of a layout map with `frames` occupancy channels per latent frame."""
    return 1 + frames + len(COLOURS) + len(SHAPES)


LAYOUT_CHANNELS = layout_channels(1)
_COLOUR = {c: i for i, c in enumerate(COLOURS)}
_SHAPE = {s: i for i, s in enumerate(SHAPES)}


class LayoutError(ValueError):
    """An annotation or plan that does not describe a layout."""


@dataclass(frozen=True)
class BoxTrack:
    """The boxes of a clip's objects over time, as fractions of the canvas."""

    times: np.ndarray  # (F,) seconds of the annotated frames
    boxes: np.ndarray  # (F, K, 4) x0, y0, x1, y1 as fractions of width and height
    colours: np.ndarray  # (K,) indices into COLOURS
    shapes: np.ndarray  # (K,) indices into SHAPES


def box_track(annotation: dict) -> BoxTrack:
    """The box track of an annotation (or plan) dict; objects are matched across frames by id."""
    try:
        width, height = float(annotation["scene"]["width"]), float(annotation["scene"]["height"])
        frames = annotation["frames"]
        ids = sorted({o["id"] for f in frames for o in f["objects"]})
        first = {o["id"]: o for f in reversed(frames) for o in f["objects"]}
        colours = np.array([_COLOUR[first[i]["colour"]] for i in ids], dtype=np.int64)
        shapes = np.array([_SHAPE[first[i]["shape"]] for i in ids], dtype=np.int64)
        boxes = np.full((len(frames), len(ids), 4), np.nan)
        column = {i: k for k, i in enumerate(ids)}
        for f, frame in enumerate(frames):
            for o in frame["objects"]:
                boxes[f, column[o["id"]]] = o["bbox"]
        times = np.array([float(f["time"]) for f in frames])
    except (KeyError, TypeError, ValueError) as err:
        raise LayoutError(f"not a layout (annotation or plan format): {err!r}") from err
    if not frames:
        raise LayoutError("a layout needs at least one frame")
    boxes /= np.array([width, height, width, height])
    return BoxTrack(times, boxes, colours, shapes)


def read_track(path: str | Path) -> BoxTrack:
    return box_track(json.loads(Path(path).read_text()))


def _coverage(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """(K, 4) fractional boxes -> (K, H, W) fraction of each cell each box covers (0 for a
    missing box)."""

    def overlap(lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
        edges = np.arange(n + 1) / n
        o = np.minimum(hi[:, None], edges[None, 1:]) - np.maximum(lo[:, None], edges[None, :-1])
        return np.clip(np.nan_to_num(o * n), 0.0, 1.0)  # (K, n)

    ox = overlap(boxes[:, 0], boxes[:, 2], width)
    oy = overlap(boxes[:, 1], boxes[:, 3], height)
    return oy[:, :, None] * ox[:, None, :]


def layout_map(
    track: BoxTrack,
    latent_shape: tuple[int, int, int],
    fps: float,
    temporal_factor: int,
    frames: int = 1,
) -> torch.Tensor:
    """(layout_channels(frames), T, H, W) map for a latent of `latent_shape` whose video runs
    at `fps` from time 0; each pixel frame takes the annotated frame nearest in time. `frames`
    is 1 (occupancy averaged over a latent frame's pixel frames) or `temporal_factor` (one
    occupancy channel each)."""
    if frames not in (1, temporal_factor):
        raise ValueError(f"layout frames must be 1 or the temporal factor {temporal_factor}")
    n_latent, height, width = latent_shape
    out = np.zeros((layout_channels(frames), n_latent, height, width), dtype=np.float32)
    out[0] = 1.0
    kinds = 1 + frames  # first colour channel
    for k in range(n_latent):
        pixel = [0] if k == 0 else range(temporal_factor * (k - 1) + 1, temporal_factor * k + 1)
        covers = []
        for j in pixel:
            nearest = int(np.abs(track.times - j / fps).argmin())
            covers.append(_coverage(track.boxes[nearest], height, width))
        if k == 0:
            covers *= temporal_factor  # latent 0 is frame 0 alone: it fills every place
        cover = np.mean(covers, axis=0)  # (K, H, W) over the latent frame
        if frames == 1:
            out[1, k] = cover.sum(0)
        else:
            out[1:kinds, k] = np.stack([c.sum(0) for c in covers])
        np.add.at(out[kinds : kinds + len(COLOURS), k], track.colours, cover)
        np.add.at(out[kinds + len(COLOURS) :, k], track.shapes, cover)
    return torch.from_numpy(np.clip(out, 0.0, 1.0))


def empty_layout(latent_shape: tuple[int, int, int], frames: int = 1) -> torch.Tensor:
    """The dropped layout: all zeros, `present` included."""
    return torch.zeros(layout_channels(frames), *latent_shape)
