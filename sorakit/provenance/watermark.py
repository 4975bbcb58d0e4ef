"""An invisible, weight-free watermark in the luma of a video, and its detector.

Where: the level-2 Haar approximation of luma (the means of 4x4-pixel cells), averaged over all
frames. Every frame carries the same pattern, so dropping frames (halving the frame rate),
cutting the clip or converting it to a GIF leaves it whole, and H.264 (which keeps luma at full
resolution and low frequencies best) and 2x rescaling barely touch it. Chroma is never changed:
4:2:0 subsampling would halve it.

How: spread-transform dither modulation. K = 112 directions in cell space, each a keyed +-1
pattern on its own small tile of cells, whitened (cell minus the mean of its 8 neighbours, so a
projection reads the picture's detail and not its brightness), each carry one bit: the picture's
projection on the direction is moved to the nearest point of a lattice with a secret dither,
offset half a step for a one. The picture never interferes (its projection is only rounded), so a
pattern of about 2 grey levels RMS carries the bits even through textured footage. PILOTS
directions carry known zeros (the detector's evidence); the rest carry the payload, 32 bits and a
4-bit check, coded by the Golay (24, 12) code.

Detection: without a watermark each pilot's position between lattice points is uniform (the
dither does not depend on the picture), so the statistic has a known distribution for any
content and a p-value with a stated false-positive rate (see _pilot_p). The detector also tries
zooms about the centre (a crop scaled back to size) and contrast gains (a brightness change), and
pays for the tries (Bonferroni); a crop's lost tiles are read as erasures.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sorakit.provenance import ecc

LUMA = np.array([0.299, 0.587, 0.114])  # BT.601: what H.264's RGB -> YUV conversion uses
PAYLOAD_BITS, CRC_BITS = 32, 4  # 16-bit build id + 16-bit video id, then a 4-bit check
PILOTS = 40  # directions that carry known zeros: the detector's evidence


@dataclass(frozen=True)
class WatermarkConfig:
    """The watermark's public parameters: an embedder and a detector must share them."""

    key: str = "sorakit-watermark-v1"
    cell: int = 4  # pixels per cell side
    strength: float = 2.0  # RMS change of luma per pixel, on average (40 dB PSNR is 2.55)
    threshold: float = 1e-4  # p-values below this say "watermarked": the false-positive rate
    zooms: tuple[float, ...] = tuple(1 + 0.025 * i for i in range(9))  # crops of up to 17%
    gains: tuple[float, ...] = tuple(1.025**i for i in range(-9, 10))  # contrast 0.8 to 1.25


@dataclass(frozen=True)
class Detection:
    """What the detector found: the p-value, the payload (if it decoded) and how it decoded."""

    p_value: float
    score: float  # the pilots' statistic, PILOTS at most
    zoom: float
    detected: bool
    payload: int | None  # the 32-bit payload if its check bits matched
    coded_bits: np.ndarray  # hard decisions on the coded bits (for bit-error rates)
    payload_bits: np.ndarray  # the decoded payload bits, whether or not the check matched

    @property
    def build_id(self) -> int | None:
        return None if self.payload is None else self.payload >> 16

    @property
    def video_id(self) -> int | None:
        return None if self.payload is None else self.payload & 0xFFFF


def payload_for(build: str, video: str) -> int:
    """A 32-bit payload: 16 bits naming the build (sorakit + model weights), 16 the video."""
    build_id = int.from_bytes(hashlib.sha256(build.encode()).digest()[:2], "big")
    video_id = int.from_bytes(hashlib.sha256(video.encode()).digest()[:2], "big")
    return build_id << 16 | video_id


def payload_bits(payload: int) -> np.ndarray:
    return ((payload >> np.arange(PAYLOAD_BITS - 1, -1, -1)) & 1).astype(np.uint8)


def _crc4(bits: np.ndarray) -> np.ndarray:
    """CRC-4 (x^4 + x + 1) of `bits`: tells a decoded payload from noise decoded as one."""
    register = [0, 0, 0, 0]
    for bit in bits:
        feedback = int(bit) ^ register[0]
        register = [register[1], register[2], register[3] ^ feedback, feedback]
    return np.array(register, dtype=np.uint8)


def coded_bits(payload: int) -> np.ndarray:
    """The 72 coded bits carried for a 32-bit payload."""
    message = payload_bits(payload)
    return ecc.encode(np.concatenate([message, _crc4(message)]))


CODED = 3 * ecc.CODE_BITS
DIRECTIONS = PILOTS + CODED


def _grid(height: int, width: int, cell: int) -> tuple[int, int]:
    return height // cell, width // cell


def _whiten(cells: np.ndarray) -> np.ndarray:
    """Each cell minus the mean of its 8 neighbours (wrapping, so the operator is symmetric)."""
    around = sum(
        np.roll(cells, (dy, dx), axis=(0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx
    )
    return cells - around / 8.0


def luma(frames: np.ndarray) -> np.ndarray:
    """(T, H, W) float luma of (T, H, W, 3) RGB frames."""
    return frames.astype(np.float64) @ LUMA


def _cell_means(image: np.ndarray, cell: int) -> np.ndarray:
    rows, cols = _grid(*image.shape, cell)
    block = image[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell)
    return block.mean(axis=(1, 3))


def _mean_cells(frames: np.ndarray, cell: int) -> np.ndarray:
    return _cell_means(luma(frames).mean(axis=0), cell)


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "big")


@dataclass(frozen=True)
class _Basis:
    """The directions (whitened +-1 sequences, one column each), their norms, the least-norm
    map V (V^T V)^-1 from projection changes to cell changes, and each one's dither."""

    white: np.ndarray  # (cells, K)
    norms: np.ndarray  # (K,)
    solve: np.ndarray  # (cells, K)
    dither: np.ndarray  # (K,) fractions of a step, in [0, 1)
    support: np.ndarray  # (cells, K) 1 where a direction's cells are


def _tiles(rows: int, cols: int, key: str) -> np.ndarray:
    """(cells,) the direction each cell belongs to (-1: none). The grid is cut into a square of
    tiles, at least one per direction, and a keyed shuffle deals them out: each direction lives
    in one small patch, so a crop loses whole directions (which the detector then ignores)
    instead of a part of every one, and the lost ones are spread over pilots and code blocks."""
    side = math.ceil(math.sqrt(DIRECTIONS))
    band_r = np.concatenate([np.full(len(b), i) for i, b in
                             enumerate(np.array_split(np.arange(rows), side))])  # fmt: skip
    band_c = np.concatenate([np.full(len(b), i) for i, b in
                             enumerate(np.array_split(np.arange(cols), side))])  # fmt: skip
    tile = (band_r[:, None] * side + band_c[None, :]).reshape(-1)
    owner = np.random.default_rng(_seed(key, "tiles", side)).permutation(side * side)
    owner[owner >= DIRECTIONS] = -1
    return owner[tile]


@lru_cache(maxsize=8)
def _basis(key: str, rows: int, cols: int) -> _Basis:
    signs = np.random.default_rng(_seed(key, rows, cols)).integers(0, 2, rows * cols)
    owner = _tiles(rows, cols, key)
    raw = np.zeros((rows * cols, DIRECTIONS))
    raw[owner >= 0, owner[owner >= 0]] = 2.0 * signs[owner >= 0] - 1.0
    white = np.stack([_whiten(c.reshape(rows, cols)).reshape(-1) for c in raw.T], axis=1)
    norms = np.linalg.norm(white, axis=0)
    dither = np.random.default_rng(_seed(key, "dither")).random(DIRECTIONS)
    # V^T V is invertible (every direction has its own cells); solve, not inv or pinv, which
    # take half a second on a busy multi-threaded BLAS.
    solve = white @ np.linalg.solve(white.T @ white, np.eye(DIRECTIONS)) * norms
    return _Basis(white, norms, solve, dither, np.abs(raw))


def _step(config: WatermarkConfig, basis: _Basis) -> float:
    """The lattice step: each projection moves by a uniform error of up to half a step
    (variance step^2 / 12), and the least-norm change for all of them has expected energy
    step^2 / 12 * trace(solve^T solve), which spread over the cells is `strength` RMS."""
    cells = basis.solve.shape[0]
    return math.sqrt(12.0 * cells * config.strength**2 / float(np.sum(basis.solve**2)))


def _projections(cells: np.ndarray, basis: _Basis) -> np.ndarray:
    return (cells.reshape(-1) @ basis.white) / basis.norms


def _message(payload: int) -> np.ndarray:
    """What each direction carries: PILOTS zeros, then the coded payload bits."""
    return np.concatenate([np.zeros(PILOTS), coded_bits(payload)]).astype(np.float64)


def _apply(frames: np.ndarray, change: np.ndarray, cell: int) -> np.ndarray:
    """Add a per-cell luma change to every frame (the same to R, G and B, so chroma stays)."""
    pixels = np.zeros(frames.shape[1:3])
    rows, cols = change.shape
    pixels[: rows * cell, : cols * cell] = np.kron(change, np.ones((cell, cell)))
    return np.clip(np.rint(frames + pixels[None, :, :, None]), 0, 255).astype(np.uint8)


def can_carry(height: int, width: int, config: WatermarkConfig | None = None) -> bool:
    """Whether a frame this size has a cell for every tile (see _tiles)."""
    rows, cols = _grid(height, width, (config or WatermarkConfig()).cell)
    return min(rows, cols) >= math.ceil(math.sqrt(DIRECTIONS))


def embed(frames: np.ndarray, payload: int, config: WatermarkConfig | None = None) -> np.ndarray:
    """`frames` (T, H, W, 3) uint8 carrying `payload` (32 bits); a new array. A frame too
    small to carry it (see can_carry) is returned unchanged."""
    config = config or WatermarkConfig()
    if not can_carry(*frames.shape[1:3], config):
        return frames.copy()
    rows, cols = _grid(*frames.shape[1:3], config.cell)
    basis = _basis(config.key, rows, cols)
    step = _step(config, basis)
    offset = (basis.dither + _message(payload) / 2.0) * step
    host = _projections(_mean_cells(frames, config.cell), basis)
    wanted = np.round((host - offset) / step) * step + offset  # the nearest lattice point
    change, out = np.zeros(rows * cols), frames
    for _ in range(3):  # rounding and clipping at black or white move the projections: correct
        got = _projections(_mean_cells(out, config.cell), basis)
        change = np.clip(change + basis.solve @ (wanted - got), -6 * config.strength,
                         6 * config.strength)  # fmt: skip
        # A picture that fights back (clipped at black or white) must not cost visibly more:
        # at most 1.2 x strength RMS (40.5 dB at the default), a few bits weaker instead.
        change *= min(1.0, 1.2 * config.strength / max(_rms(change), 1e-9))
        out = _apply(frames, change.reshape(rows, cols), config.cell)
    return out


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def _zoomed(image: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """`image` mapped back to the original's coordinates, had it been the original's centre
    1/zoom cropped and scaled to the same size; and the mask of pixels it covers."""
    if zoom == 1.0:
        return image, np.ones_like(image, dtype=bool)
    from scipy.ndimage import map_coordinates  # only the detector needs scipy

    height, width = image.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    ry, rx = (ys - cy) * zoom + cy, (xs - cx) * zoom + cx
    mask = (ry >= 0) & (ry <= height - 1) & (rx >= 0) & (rx <= width - 1)
    return map_coordinates(image, [ry, rx], order=1, mode="nearest"), mask


def _pilot_p(phase: np.ndarray) -> tuple[float, float]:
    """The pilots' statistic S = sum cos(2 pi e), e each pilot's distance from its lattice in
    steps, and a p-value for it. Without a watermark each e is uniform and independent (the
    dithers are), so cos(2 pi e) has moment generating function I0(t), and
    P(S >= s) <= min_t exp(-t s) I0(t)^M (Chernoff): an upper bound for any content, so the
    stated false-positive rate is never exceeded."""
    stat = float(np.cos(2 * np.pi * phase).sum())
    if stat <= 0:
        return stat, 1.0
    t, log_i0 = _chernoff_grid()
    log_bound = -t * stat + len(phase) * log_i0
    return stat, float(min(1.0, np.exp(log_bound.min())))


@lru_cache(maxsize=1)
def _chernoff_grid() -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.01, 40.0, 800)
    return t, np.log(np.i0(t))


def _phases(
    image: np.ndarray, zoom: float, basis: _Basis, cell: int, step: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each direction's projection in steps, at one zoom; and which directions are (mostly)
    in the picture (a crop loses the others)."""
    zoomed, mask = _zoomed(image, zoom)
    cells = _cell_means(zoomed, cell)
    inside = (_cell_means(mask.astype(np.float64), cell) > 0.999).reshape(-1)
    if not inside.all() and inside.any():  # cells outside copy the nearest inside one, so
        # whitening near the edge sees about what was there; their own directions are lost
        from scipy.ndimage import distance_transform_edt

        _, (iy, ix) = distance_transform_edt(~inside.reshape(cells.shape), return_indices=True)
        cells = cells[iy, ix]
    # A direction most of whose own cells are in the picture still reads well; the others are
    # lost (their neighbours' mean fill spoils a little of the rest).
    kept = (inside @ basis.support) / basis.support.sum(axis=0) >= 0.75
    return _projections(cells, basis) / step, kept


def detect(frames: np.ndarray, config: WatermarkConfig | None = None) -> Detection:
    """Look for the watermark in (T, H, W, 3) uint8 frames."""
    config = config or WatermarkConfig()
    if not can_carry(*frames.shape[1:3], config):
        return _nothing()
    rows, cols = _grid(*frames.shape[1:3], config.cell)
    basis = _basis(config.key, rows, cols)
    step = _step(config, basis)
    image = luma(frames).mean(axis=0)
    # The picture as it is first, then zoomed (a crop scaled back) and with its contrast
    # scaled (a brightness change scales every projection).
    others = len(config.zooms) * len(config.gains) - 1
    tries = []
    for zoom in (1.0, *(z for z in config.zooms if z != 1.0)):
        scaled, kept = _phases(image, zoom, basis, config.cell, step)
        for gain in (1.0, *(g for g in config.gains if g != 1.0)):
            phase = scaled / gain - basis.dither
            stat, p = _pilot_p(phase[:PILOTS][kept[:PILOTS]])
            tries.append((p, -stat, zoom, np.where(kept, phase, 0.25)))  # lost: soft value 0
            if len(tries) == 1 and p < config.threshold / 2:
                break  # found as it is: no need to look further
        if tries[0][0] < config.threshold / 2:
            break
    best = min(range(len(tries)), key=lambda i: tries[i][:2])
    p, neg_stat, zoom, phase = tries[best]
    # Bonferroni: the plain try has half the false-positive budget, the others share the rest.
    p_value = min(1.0, 2.0 * p * (1 if best == 0 else others))
    soft = -np.cos(2 * np.pi * phase[PILOTS:])  # +1: a one, -1: a zero
    message = ecc.decode_soft(soft)
    bits, check = message[:PAYLOAD_BITS], message[PAYLOAD_BITS:]
    ok = bool(np.array_equal(_crc4(bits), check))
    return Detection(
        p_value=p_value, score=-neg_stat, zoom=zoom, detected=p_value < config.threshold,
        payload=int("".join(map(str, bits)), 2) if ok else None,
        coded_bits=(soft > 0).astype(np.uint8), payload_bits=bits,
    )  # fmt: skip


def _nothing() -> Detection:
    return Detection(1.0, 0.0, 1.0, False, None, np.zeros(CODED, np.uint8),
                     np.zeros(PAYLOAD_BITS, np.uint8))  # fmt: skip
