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
repeats frame 0 on every one. This matches a VAE whose latent keeps each frame (`world-per-frame`).
`kind_frames` does the same for the colour and shape channels (`kind_frames` channels per kind,
kind-major): averaged, a moving object's colour is a faint streak over its whole path, while a
`world-per-frame` latent holds each frame's cell colour; per frame, the map holds exactly the cell
colours such a latent's shortcut channels carry.

What covers a cell is the object's box (`fill="box"`), or its outline inside the box
(`fill="shape"`: a disc, an upright triangle or the square itself), so that the map shows a
small disc's cut corners on the coarse latent grid instead of leaving them to the shape channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from sorakit.world.vocab import COLOURS, SHAPES


def layout_channels(frames: int = 1, kind_frames: int = 1) -> int:
    """Channels of a layout map with `frames` occupancy channels per latent frame and
    `kind_frames` channels per colour and per shape."""
    return 1 + frames + kind_frames * (len(COLOURS) + len(SHAPES))


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


# The shape each shape is pushed away from by shape-contrast guidance. A disc a couple of latent
# cells across has cut corners of a fraction of a cell, and the transformer squares such discs
# off; squares, triangles and larger discs come out right, and pushing them carves them (a large
# disc into a star, a triangle away from a square breaks small ones: BENCHMARKS.md, "Shape
# contrast"). So only small discs that hold still are contrasted:
CONTRAST_SHAPE = {"circle": "square"}
CONTRAST_MAX_CELLS = 2.5  # the longer side of the disc's box, in latent cells
# Still: boxes within this fraction of the canvas on every frame. A moving object's outline is
# averaged over a latent frame's frames into a streak, and pushing a streak of discs away from
# a streak of squares carves the disc too.
STILL_TOLERANCE = 0.005


def contrast_track(track: BoxTrack, grid: tuple[int, int]) -> BoxTrack:
    """The same boxes and colours with each small, still object whose shape is in
    `CONTRAST_SHAPE` swapped for the one it is contrasted with, on a latent grid of `grid`
    (H, W) cells: the contrast layout of shape-contrast guidance."""
    with np.errstate(invalid="ignore"):
        spread = np.nan_to_num(np.nanmax(track.boxes, 0) - np.nanmin(track.boxes, 0))  # (K, 4)
        sides = np.nanmax(track.boxes[..., 2:] - track.boxes[..., :2], 0)  # (K, 2) w, h
    cells = np.nan_to_num(sides * np.array([grid[1], grid[0]]), nan=np.inf).max(-1)
    swap = (spread.max(-1) < STILL_TOLERANCE) & (cells <= CONTRAST_MAX_CELLS)
    names = [SHAPES[s] for s in track.shapes]
    swapped = [
        _SHAPE[CONTRAST_SHAPE.get(name, name) if k else name]
        for name, k in zip(names, swap, strict=True)
    ]
    return replace(track, shapes=np.array(swapped, dtype=np.int64))


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


SUBSAMPLES = 8  # per cell side, for the covered fraction of a curved or slanted outline


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether box coordinates (u right, v down, both 0..1 across the box) are inside the
    world's `shape` that fills the box: the disc, or the upright triangle (apex top centre)."""
    if shape == "circle":
        return (2 * u - 1) ** 2 + (2 * v - 1) ** 2 <= 1
    return np.abs(u - 0.5) <= v / 2  # triangle


def _shape_coverage(boxes: np.ndarray, shapes: np.ndarray, height: int, width: int) -> np.ndarray:
    """As `_coverage`, but of each object's outline inside its box (`layout_fill="shape"`):
    a disc leaves its box's corner cells partly empty, a triangle its upper corners."""
    cover = _coverage(boxes, height, width)
    n = SUBSAMPLES
    for k, (box, shape) in enumerate(zip(boxes, shapes, strict=True)):
        if SHAPES[shape] == "square" or np.isnan(box).any():
            continue  # a square is its box, exactly
        x0, y0, x1, y1 = box
        c0, c1 = max(int(np.floor(x0 * width)), 0), min(int(np.ceil(x1 * width)), width)
        r0, r1 = max(int(np.floor(y0 * height)), 0), min(int(np.ceil(y1 * height)), height)
        if c0 >= c1 or r0 >= r1:
            continue
        xs = (c0 + (np.arange((c1 - c0) * n) + 0.5) / n) / width  # sample points, fractions
        ys = (r0 + (np.arange((r1 - r0) * n) + 0.5) / n) / height
        u = ((xs - x0) / (x1 - x0))[None, :]
        v = ((ys - y0) / (y1 - y0))[:, None]
        hit = _inside(SHAPES[shape], u, v) & (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
        cover[k, r0:r1, c0:c1] = hit.reshape(r1 - r0, n, c1 - c0, n).mean(axis=(1, 3))
    return cover


LAYOUT_FILLS = ("box", "shape")


def layout_map(
    track: BoxTrack,
    latent_shape: tuple[int, int, int],
    fps: float,
    temporal_factor: int,
    frames: int = 1,
    fill: str = "box",
    kind_frames: int = 1,
) -> torch.Tensor:
    """(layout_channels(frames, kind_frames), T, H, W) map for a latent of `latent_shape`
    whose video runs at `fps` from time 0; each pixel frame takes the annotated frame nearest
    in time. `frames` and `kind_frames` are 1 (occupancy, or colour and shape coverage,
    averaged over a latent frame's pixel frames) or `temporal_factor` (one channel each).
    `fill` is what covers a cell: the object's `box`, or its `shape` (the outline of its colour
    and shape inside the box)."""
    for name, n in (("frames", frames), ("kind_frames", kind_frames)):
        if n not in (1, temporal_factor):
            raise ValueError(f"layout {name} must be 1 or the temporal factor {temporal_factor}")
    if fill not in LAYOUT_FILLS:
        raise ValueError(f"layout fill must be one of {LAYOUT_FILLS}, not {fill!r}")
    n_latent, height, width = latent_shape
    kinds = len(COLOURS) + len(SHAPES)
    out = np.zeros((layout_channels(frames, kind_frames), n_latent, height, width), np.float32)
    out[0] = 1.0
    # Object k's kinds: its colour, then its shape (an index into COLOURS + SHAPES).
    object_kinds = (track.colours, len(COLOURS) + track.shapes)
    for k in range(n_latent):
        pixel = [0] if k == 0 else range(temporal_factor * (k - 1) + 1, temporal_factor * k + 1)
        covers = []
        for j in pixel:
            nearest = int(np.abs(track.times - j / fps).argmin())
            boxes = track.boxes[nearest]
            covers.append(
                _coverage(boxes, height, width)
                if fill == "box"
                else _shape_coverage(boxes, track.shapes, height, width)
            )
        if k == 0:
            covers *= temporal_factor  # latent 0 is frame 0 alone: it fills every place
        covers = np.stack(covers)  # (tf, K, H, W)
        out[1 : 1 + frames, k] = _frames_or_mean(covers.sum(1), frames)
        per_kind = np.zeros((kinds, kind_frames, height, width), np.float32)
        by_frame = _frames_or_mean(covers, kind_frames)  # (kind_frames, K, H, W)
        for obj_kinds in object_kinds:
            np.add.at(per_kind, obj_kinds, by_frame.transpose(1, 0, 2, 3))
        out[1 + frames :, k] = per_kind.reshape(kinds * kind_frames, height, width)
    return torch.from_numpy(np.clip(out, 0.0, 1.0))


def plan_layout(
    plan: dict,
    fmt: dict,
    latent_shape: tuple[int, int, int],
    fps: float,
    temporal_factor: int,
    contrast: bool = False,
) -> torch.Tensor:
    """A plan's (or annotation's) layout maps (1, S, T, H, W) in a transformer's format `fmt`
    (`DiTConfig.layout_format`) on a latent grid of `latent_shape` (T, H, W) at `fps`; with
    `contrast`, of its contrast track (`contrast_track`)."""
    track = box_track(plan)
    if contrast:
        track = contrast_track(track, latent_shape[1:])
    return layout_map(track, latent_shape, fps, temporal_factor, **fmt)[None]


def _frames_or_mean(per_frame: np.ndarray, n: int) -> np.ndarray:
    """A latent frame's (tf, ...) per-pixel-frame values: as they are (n = tf), or their mean
    (n = 1)."""
    return per_frame if n > 1 else per_frame.mean(0, keepdims=True)


def empty_layout(
    latent_shape: tuple[int, int, int], frames: int = 1, kind_frames: int = 1
) -> torch.Tensor:
    """The dropped layout: all zeros, `present` included."""
    return torch.zeros(layout_channels(frames, kind_frames), *latent_shape)


def object_cover(layout: torch.Tensor, frames: int = 1) -> torch.Tensor:
    """(T, H, W): the largest fraction of each latent cell that any object covers on any of its
    frames, read from a layout map's `frames` occupancy channels (0 for a dropped map)."""
    return layout[1 : 1 + frames].amax(0)


def spread_kind_weights(weight: torch.Tensor, frames: int, kind_frames: int) -> torch.Tensor:
    """A linear layer's weight (out, layout_channels(frames) * V) over averaged-kind maps, made
    to read per-frame-kind maps (out, layout_channels(frames, kind_frames) * V) with the same
    output: an averaged channel is the mean of its per-frame channels, so each per-frame channel
    gets the averaged one's weights over `kind_frames` (exact while no cell's coverage of one
    kind exceeds 1, where the map clips). V is the patch volume: channels are channel-major."""
    base = 1 + frames
    per_channel = weight.unflatten(1, (layout_channels(frames), -1))  # (out, S, V)
    spread = per_channel[:, base:].repeat_interleave(kind_frames, dim=1) / kind_frames
    return torch.cat([per_channel[:, :base], spread], dim=1).flatten(1)
