"""A detector for world videos: palette segmentation, components, shape and size, tracking.

Segmentation explains each pixel as a blend of the background and one palette colour,
`pixel = bg + alpha * (colour - bg)`, which is exactly how the renderer anti-aliases edges. The
colour with the smallest blend residual wins and `alpha` is the pixel's coverage, so edge pixels
are neither lost nor mistaken for a darker palette colour, and measurements are sub-pixel.

Shapes are told apart by moments of the coverage, which work from a handful of pixels: a
triangle's mass sits low (vertical skewness), and a square's projection onto a diagonal is peaked
(triangular) where a disc's projections are the same in every direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sorakit.world.scene import area as shape_area
from sorakit.world.vocab import BACKGROUND, COLOURS, PALETTE

_BG = np.asarray(BACKGROUND, dtype=np.float32)
_DIRS = np.asarray([PALETTE[c] for c in COLOURS], dtype=np.float32) - _BG  # (C, 3)
RESIDUAL_TOL = 60.0  # RGB distance a pixel may sit off its blend line (codec error)
MIN_AREA_FRACTION = 0.3  # of the smallest object's area; smaller components are noise
TRIANGLE_SKEW = 0.18  # |vertical skewness| above this is a triangle (ideal 0.57; codec blur of a
# small red triangle lowers it to 0.22; discs and squares stay under 0.12)
SQUARE_KURTOSIS_RATIO = 1.15  # diagonal/axis kurtosis: ideal square 1.33, disc 1.0


@dataclass(frozen=True)
class Detection:
    colour: str
    shape: str
    size: str
    center: tuple[float, float]  # pixels, y down: coverage-weighted centroid
    bbox: tuple[float, float, float, float]  # pixels: x0, y0, x1, y1 of covered pixels
    area: float  # pixels: summed coverage


def segment(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blend fit of an (H, W, 3) frame: per-pixel palette index (-1: background), that colour's
    coverage (H, W), and every colour's coverage (H, W, C), all in [0, 1]."""
    d = frame.astype(np.float32) - _BG  # (H, W, 3)
    norms = (_DIRS**2).sum(-1)  # (C,)
    alpha = np.clip(np.einsum("hwk,ck->hwc", d, _DIRS) / norms, 0.0, 1.0)  # (H, W, C)
    residual = np.linalg.norm(d[..., None, :] - alpha[..., None] * _DIRS, axis=-1)  # (H, W, C)
    best = residual.argmin(-1)
    cover = np.take_along_axis(alpha, best[..., None], -1)[..., 0]
    ok = (np.take_along_axis(residual, best[..., None], -1)[..., 0] < RESIDUAL_TOL) & (cover > 0.05)
    return np.where(ok, best, -1), np.where(ok, cover, 0.0), alpha


def _moments(xs: np.ndarray, ys: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(vertical skewness, diagonal/axis kurtosis ratio) of a coverage-weighted pixel set."""
    w = w / w.sum()
    u, v = xs - (w * xs).sum(), ys - (w * ys).sum()

    def kurtosis(z: np.ndarray) -> float:
        var = (w * z * z).sum()
        return float((w * z**4).sum() / max(var * var, 1e-12))

    skew = float((w * v**3).sum() / max((w * v * v).sum(), 1e-12) ** 1.5)
    a, b = (u + v) / np.sqrt(2), (u - v) / np.sqrt(2)
    ratio = (kurtosis(a) + kurtosis(b)) / max(kurtosis(u) + kurtosis(v), 1e-12)
    return skew, ratio


def classify_shape(xs: np.ndarray, ys: np.ndarray, w: np.ndarray) -> str:
    skew, ratio = _moments(xs, ys, w)
    if abs(skew) > TRIANGLE_SKEW:
        return "triangle"
    return "square" if ratio > SQUARE_KURTOSIS_RATIO else "circle"


def classify_size(shape: str, area_world: float) -> str:
    """Small or large, by area against the geometric mean of the two ideal areas."""
    cut = np.sqrt(shape_area(shape, "small") * shape_area(shape, "large"))
    return "large" if area_world > cut else "small"


def _seeds(labels: np.ndarray, cover: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Object cores: connected, mostly covered pixels of one colour that reach at least two
    pixels inside the foreground.

    Codec ringing paints one-pixel rims of a wrong colour around objects (an orange square gets a
    yellow frame); rims have no inside, so they never become objects of their own.
    Returns a map of core ids (0: none) and each core's palette index.
    """
    # scipy is imported where it is used: a quarter second that a plain `generate`, which
    # imports this module through the planner, never needs.
    from scipy import ndimage

    fg = (labels >= 0) & (cover >= 0.5)
    inside = ndimage.binary_erosion(fg, structure=ndimage.generate_binary_structure(2, 1))
    seeds = np.zeros(labels.shape, dtype=np.int32)
    colours: list[int] = []
    for c in np.unique(labels[inside]):
        parts, n = ndimage.label(fg & (labels == c), structure=np.ones((3, 3)))
        for k in range(1, n + 1):
            part = parts == k
            if (part & inside).sum() >= 2:
                colours.append(int(c))
                seeds[part] = len(colours)
    return seeds, colours


def detect_frame(frame: np.ndarray) -> list[Detection]:
    """Every object in one (H, W, 3) uint8 frame, in palette order then top-left first.

    Each core claims the non-background pixels within 2.5 px of it; their coverage of the core's
    colour weighs the centroid, area and shape moments.
    """
    from scipy import ndimage

    labels, cover, alpha = segment(frame)
    seeds, colours = _seeds(labels, cover)
    if not colours:
        return []
    dist, (iy, ix) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    not_bg = np.linalg.norm(frame.astype(np.float32) - _BG, axis=-1) > 20.0
    owner = np.where(not_bg & (dist <= 2.5), seeds[iy, ix], 0)
    ppu = float(min(frame.shape[:2]))
    min_area = MIN_AREA_FRACTION * shape_area("triangle", "small") * ppu**2  # smallest object
    found = []
    for k, c in enumerate(colours, start=1):
        ys, xs = np.nonzero(owner == k)
        w = alpha[ys, xs, c]
        area_px = float(w.sum())
        if area_px < min_area:
            continue
        px, py = xs + 0.5, ys + 0.5
        shape = classify_shape(px, py, w)
        core = w >= 0.5
        found.append(
            Detection(
                colour=COLOURS[c],
                shape=shape,
                size=classify_size(shape, area_px / ppu**2),
                center=(float((w * px).sum() / area_px), float((w * py).sum() / area_px)),
                bbox=(
                    float(xs[core].min()),
                    float(ys[core].min()),
                    float(xs[core].max() + 1),
                    float(ys[core].max() + 1),
                ),
                area=area_px,
            )
        )
    found.sort(key=lambda d: (COLOURS.index(d.colour), d.center[1], d.center[0]))
    return found


def detect_video(frames: np.ndarray) -> list[list[Detection]]:
    return [detect_frame(f) for f in frames]


@dataclass
class Track:
    """One object followed through a video: its detections on the frames where it was seen."""

    colour: str
    frames: list[int] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)

    @property
    def centers(self) -> np.ndarray:  # (n, 2) pixels
        return np.array([d.center for d in self.detections])

    @property
    def shape(self) -> str:
        """The majority shape over the track."""
        shapes = [d.shape for d in self.detections]
        return max(set(shapes), key=shapes.count)

    @property
    def size(self) -> str:
        sizes = [d.size for d in self.detections]
        return max(set(sizes), key=sizes.count)


def track_objects(detections: list[list[Detection]], max_jump: float) -> list[Track]:
    """Link detections of the same colour frame to frame by the nearest centroid (Hungarian
    matching). A detection farther than `max_jump` pixels from every live track starts a new one."""
    from scipy.optimize import linear_sum_assignment

    tracks: list[Track] = []
    for t, found in enumerate(detections):
        for colour in {d.colour for d in found} | {tr.colour for tr in tracks}:
            dets = [d for d in found if d.colour == colour]
            live = [tr for tr in tracks if tr.colour == colour and tr.frames[-1] == t - 1]
            matched: set[int] = set()
            if dets and live:
                cost = np.array(
                    [
                        [np.hypot(*np.subtract(tr.detections[-1].center, d.center)) for d in dets]
                        for tr in live
                    ]
                )
                for r, c in zip(*linear_sum_assignment(cost), strict=True):
                    if cost[r, c] <= max_jump:
                        live[r].frames.append(t)
                        live[r].detections.append(dets[c])
                        matched.add(c)
            for c, d in enumerate(dets):
                if c not in matched:
                    tracks.append(Track(colour, [t], [d]))
    return tracks
