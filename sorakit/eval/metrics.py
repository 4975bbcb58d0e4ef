"""Verdicts per category for one video, from detections and tracks alone.

Thresholds are in world units (shorter side = 1) or as fractions, so they mean the same at every
size and frame rate. Each verdict carries a number (the measured quantity) and a short note, so a
failure says what was seen.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from sorakit.eval.suite import Expected
from sorakit.world.detect import Detection, Track, detect_video, track_objects
from sorakit.world.events import HOLD_FRACTION, direction_fraction
from sorakit.world.scene import Scene
from sorakit.world.vocab import BACKGROUND

RELATION_MARGIN = 0.01  # world units: centres must differ by this for a relation to hold
MIN_DISPLACEMENT = 0.05  # world units a mover must travel in its first half second
GRAVITY_TOL = 0.2  # relative error of the fitted acceleration
THROW_RESIDUAL = 0.01  # world units RMS off the fitted parabola
MOMENTUM_TOL = 0.2  # |change in momentum| / total |momentum| across a collision
FLICKER_TOL = 2.0  # mean absolute change of background pixels between frames, in levels
TOUCH_PX = 2.0  # a contact with a wall or another object explains a sudden change of motion
MAX_JUMP = 1.0  # world units an object may move between frames and keep its track
MAX_SPEED = 3.0  # world units / s: faster than anything in the world moves


@dataclass(frozen=True)
class Verdict:
    passed: bool
    value: float | None = None
    note: str = ""
    fit: dict[str, list[float]] | None = None  # measured points and fitted curve, for plots

    def __post_init__(self) -> None:  # numpy scalars in, plain JSON-able values out
        object.__setattr__(self, "passed", bool(self.passed))
        if self.value is not None:
            object.__setattr__(self, "value", float(self.value))


@dataclass
class VideoAnalysis:
    """Detections and tracks of one video; what every category verdict reads."""

    frames: np.ndarray  # (T, H, W, 3) uint8
    fps: float
    detections: list[list[Detection]] = field(init=False)
    tracks: list[Track] = field(init=False)

    def __post_init__(self) -> None:
        self.detections = detect_video(self.frames)
        self.tracks = track_objects(self.detections, MAX_JUMP * self.ppu)

    @property
    def ppu(self) -> float:
        return float(min(self.frames.shape[1:3]))

    @property
    def size(self) -> tuple[int, int]:  # (width, height) pixels
        return self.frames.shape[2], self.frames.shape[1]

    def counts(self) -> list[Counter]:
        """Objects of each colour, per frame."""
        return [Counter(d.colour for d in dets) for dets in self.detections]

    def typical_counts(self) -> Counter:
        """Per colour, the count seen in most frames."""
        per_frame = self.counts()
        colours = {c for counts in per_frame for c in counts}
        return Counter(
            {c: Counter(counts[c] for counts in per_frame).most_common(1)[0][0] for c in colours}
        )

    def main_track(self, colour: str) -> Track | None:
        tracks = [t for t in self.tracks if t.colour == colour]
        return max(tracks, key=lambda t: len(t.frames)) if tracks else None

    def times(self, track: Track) -> np.ndarray:
        return np.asarray(track.frames, dtype=np.float64) / self.fps

    def world(self, track: Track) -> np.ndarray:
        """(n, 2) centres in world units, y down."""
        return track.centers / self.ppu


# --- prompt categories -----------------------------------------------------------------------


def judge_colour(video: VideoAnalysis, exp: Expected) -> Verdict:
    (colour,) = exp.counts
    seen = video.typical_counts()
    return Verdict(seen[colour] >= 1, float(seen[colour]), f"{colour}: seen {dict(seen)}")


def judge_shape(video: VideoAnalysis, exp: Expected) -> Verdict:
    (shape,) = exp.shapes.values()
    shapes = Counter(d.shape for dets in video.detections for d in dets)
    got = shapes.most_common(1)[0][0] if shapes else "nothing"
    return Verdict(got == shape, None, f"asked {shape}, saw {got}")


def judge_count(video: VideoAnalysis, exp: Expected) -> Verdict:
    ((colour, n),) = exp.counts.items()
    got = video.typical_counts()[colour]
    return Verdict(got == n, float(got), f"asked {n} {colour}, saw {got}")


def judge_relation(video: VideoAnalysis, scene: Scene) -> Verdict:
    rel = scene.relations[0]
    a, b = scene.groups[rel.subject].colour, scene.groups[rel.object].colour
    first = {d.colour: d for d in reversed(video.detections[0])}
    if a not in first or b not in first:
        return Verdict(False, None, f"{a} or {b} missing in the first frame")
    (ax, ay), (bx, by) = (np.array(first[c].center) / video.ppu for c in (a, b))
    clearance = {"left of": bx - ax, "right of": ax - bx, "above": by - ay, "below": ay - by}
    value = float(clearance[rel.word])
    return Verdict(value > RELATION_MARGIN, value, f"{a} {rel.word} {b}: clearance {value:+.3f}")


def judge_binding(video: VideoAnalysis, exp: Expected) -> Verdict:
    wrong = []
    for colour, shape in exp.shapes.items():
        shapes = Counter(d.shape for dets in video.detections for d in dets if d.colour == colour)
        got = shapes.most_common(1)[0][0] if shapes else "nothing"
        if got != shape:
            wrong.append(f"{colour} {got} (asked {shape})")
    right = len(exp.shapes) - len(wrong)
    return Verdict(not wrong, right / len(exp.shapes), "; ".join(wrong) or "all bound")


def judge_motion(video: VideoAnalysis, scene: Scene) -> Verdict:
    group = scene.groups[0]
    track = video.main_track(group.colour)
    if track is None or len(track.frames) < 2:
        return Verdict(False, None, "object not tracked")
    t, p = video.times(track), video.world(track)
    early = t <= t[0] + 0.5 + 1e-9
    dx, dy = p[early][-1] - p[0]
    axis = {"left": -dx, "right": dx, "up": -dy, "down": dy}
    along = float(axis[group.direction])
    across = abs(dy) if group.direction in ("left", "right") else abs(dx)
    # Both: a clear start (the first half second) and a clip that reads as asked throughout.
    held = direction_fraction(p, group.direction)
    passed = along >= MIN_DISPLACEMENT and along > across and held >= HOLD_FRACTION
    detail = f"moved {dx:+.3f}, {dy:+.3f} in 0.5 s, asked {group.direction}; "
    return Verdict(passed, along, detail + f"went that way on {held:.0%} of the clip's steps")


def _flight(video: VideoAnalysis, track: Track) -> tuple[np.ndarray, np.ndarray]:
    """Times and world positions from the track's start to the frame before its first landing.

    A landing is where the object stops going down: the first frame after which y decreases,
    once it has been falling. That frame itself may be after the bounce, so it is left out.
    """
    t, p = video.times(track), video.world(track)
    vy = np.diff(p[:, 1])
    falling = np.flatnonzero(vy > 1e-4)
    if falling.size == 0:
        return t[:0], p[:0]
    rising_after = np.flatnonzero((vy <= 0) & (np.arange(vy.size) > falling[0]))
    end = rising_after[0] if rising_after.size else len(t)  # index of the lowest frame
    return t[:end], p[:end]


def bounce_peaks(video: VideoAnalysis, track: Track) -> np.ndarray:
    """Heights (world units above the lowest point) of the apexes between bounces."""
    y = video.world(track)[:, 1]
    interior = np.flatnonzero((y[1:-1] < y[:-2]) & (y[1:-1] <= y[2:])) + 1
    return y.max() - y[interior]


def judge_gravity(video: VideoAnalysis, scene: Scene) -> Verdict:
    track = video.main_track(scene.groups[0].colour)
    if track is None:
        return Verdict(False, None, "object not tracked")
    t, p = _flight(video, track)
    if len(t) < 4:
        return Verdict(False, None, f"only {len(t)} frames of fall")
    coef = np.polyfit(t, p[:, 1], 2)
    g = 2.0 * float(coef[0])
    err = abs(g - scene.gravity) / scene.gravity
    peaks = bounce_peaks(video, track)
    growing = bool(np.any(np.diff(peaks) > 0.01))
    note = f"g = {g:.2f} (world {scene.gravity:.2f}), bounce peaks {np.round(peaks, 3).tolist()}"
    all_t, all_p = video.times(track), video.world(track)
    fit = {
        "t": all_t.tolist(),
        "y": all_p[:, 1].tolist(),
        "fit_t": t.tolist(),
        "coef_y": coef.tolist(),
    }
    return Verdict(err <= GRAVITY_TOL and not growing, err, note, fit)


def judge_throw(video: VideoAnalysis, scene: Scene) -> Verdict:
    group = scene.groups[0]
    track = video.main_track(group.colour)
    if track is None:
        return Verdict(False, None, "object not tracked")
    t, p = video.times(track), video.world(track)
    # The flight runs from the throw until the object comes back down to its lowest height.
    # It ends before the lowest frame after the apex, which may already show the bounce.
    top = int(np.argmin(p[:, 1]))
    after = np.flatnonzero(np.diff(p[top:, 1]) <= 0)
    end = top + after[0] if after.size else len(t)
    t, p = t[:end], p[:end]
    if len(t) < 4 or top == 0:
        return Verdict(False, None, "no rise and fall seen")
    coef = np.polyfit(t, p[:, 1], 2)
    g = 2.0 * float(coef[0])
    line = np.polyfit(t, p[:, 0], 1)  # (vx, x0)
    residual = np.sqrt(
        np.mean((np.polyval(coef, t) - p[:, 1]) ** 2 + (np.polyval(line, t) - p[:, 0]) ** 2)
    )
    err = abs(g - scene.gravity) / scene.gravity
    direction_ok = np.sign(line[0]) == (1 if group.direction == "right" else -1)
    passed = err <= GRAVITY_TOL and residual <= THROW_RESIDUAL and direction_ok
    note = f"g = {g:.2f} (world {scene.gravity:.2f}), residual {residual:.4f}, vx {line[0]:+.2f}"
    all_p = video.world(track)
    fit = {
        "x": all_p[:, 0].tolist(),
        "y": all_p[:, 1].tolist(),
        "fit_t": t.tolist(),
        "coef_x": line.tolist(),
        "coef_y": coef.tolist(),
    }
    return Verdict(bool(passed), err, note, fit)


def judge_collision(video: VideoAnalysis, scene: Scene) -> Verdict:
    a, b = (video.main_track(g.colour) for g in scene.groups[:2])
    if a is None or b is None:
        return Verdict(False, None, "a colliding object is not tracked")
    frames = sorted(set(a.frames) & set(b.frames))
    if len(frames) < 4:
        return Verdict(False, None, "the pair is seen together in too few frames")
    pa = np.array([a.centers[a.frames.index(f)] for f in frames]) / video.ppu
    pb = np.array([b.centers[b.frames.index(f)] for f in frames]) / video.ppu
    va, vb = np.diff(pa[:, 0]) * video.fps, np.diff(pb[:, 0]) * video.fps
    ma, mb = (np.mean([d.area for d in tr.detections]) for tr in (a, b))
    gap = np.abs(pa[:, 0] - pb[:, 0])
    closing = np.flatnonzero(np.diff(gap) > 0)  # the first step where they move apart
    if closing.size == 0 or closing[0] == 0 or closing[0] + 1 >= len(va):
        return Verdict(False, None, "the pair never bounces apart")
    k = closing[0]
    # The contact lies in step k or k - 1; read velocities clear of both.
    j = max(k - 2, 0)
    before = ma * va[j] + mb * vb[j]
    after = ma * va[k + 1] + mb * vb[k + 1]
    scale = ma * abs(va[j]) + mb * abs(vb[j])
    change = abs(after - before) / max(scale, 1e-9)
    reversed_ = va[k + 1] * va[j] < 0 or vb[k + 1] * vb[j] < 0
    note = f"momentum {before:+.1f} -> {after:+.1f} (change {change:.0%})"
    fit = {
        "t": (np.asarray(frames[:-1]) / video.fps).tolist(),
        "momentum": (ma * va + mb * vb).tolist(),
        "contact": [float(frames[k]) / video.fps],
    }
    return Verdict(bool(change <= MOMENTUM_TOL and reversed_), change, note, fit)


# --- categories judged on every video ----------------------------------------------------------


def judge_no_extra(video: VideoAnalysis, exp: Expected) -> Verdict:
    seen = video.typical_counts()
    extra = {c: n - exp.counts.get(c, 0) for c, n in seen.items() if n > exp.counts.get(c, 0)}
    return Verdict(not extra, float(sum(extra.values())), f"extra: {extra}" if extra else "none")


def judge_permanence(video: VideoAnalysis) -> Verdict:
    per_frame = video.counts()
    typical = video.typical_counts()
    changed = [t for t, counts in enumerate(per_frame) if +counts != +typical]
    value = len(changed) / len(per_frame)
    note = f"object count changes on frames {changed[:8]}" if changed else "stable"
    return Verdict(not changed, value, note)


def judge_flicker(video: VideoAnalysis) -> Verdict:
    """Mean absolute change of background pixels (3 px from any object) between frames."""
    frames = video.frames.astype(np.float32)
    bg = np.linalg.norm(frames - np.asarray(BACKGROUND, np.float32), axis=-1) < 30  # (T, H, W)
    far = np.stack([ndimage.binary_erosion(m, iterations=3, border_value=1) for m in bg])
    both = far[1:] & far[:-1]
    if not both.any():
        return Verdict(True, 0.0, "no background")
    diff = np.abs(frames[1:] - frames[:-1]).mean(-1)
    value = float(diff[both].mean())
    return Verdict(value <= FLICKER_TOL, value, f"background changes {value:.2f} levels/frame")


def _bounce_explains(video: VideoAnalysis, track: Track, i: int, tol_px: float) -> bool:
    """Whether bounces explain the sudden change of velocity at the track's i-th detection.

    A bounce pushes an object away from what it hit, so every axis along which the velocity
    jumped by more than the tolerance needs a wall, the ground, the ceiling or another object on
    the side the push came from, within one frame's plausible travel at frame i-1, i or i+1.
    """
    p = track.centers  # pixels
    delta = (p[i + 1] - p[i]) - (p[i] - p[i - 1])  # velocity change, pixels per frame
    reach = MAX_SPEED * video.ppu / video.fps + TOUCH_PX  # a bounce may hide inside a frame
    width, height = video.size
    for axis in (0, 1):
        if abs(delta[axis]) / 2 <= tol_px:
            continue
        far = delta[axis] < 0  # pushed toward -axis: the obstacle is on the far (+) side
        explained = False
        for j in (i - 1, i, i + 1):
            det = track.detections[j]
            edge = det.bbox[axis + 2] if far else det.bbox[axis]
            if abs(((width, height)[axis] if far else 0.0) - edge) <= reach:
                explained = True
            for other in video.detections[track.frames[j]]:
                if other is det:
                    continue
                gap = other.bbox[axis] - edge if far else edge - other.bbox[axis + 2]
                lateral = max(
                    other.bbox[1 - axis] - det.bbox[3 - axis],
                    det.bbox[1 - axis] - other.bbox[3 - axis],
                )
                explained |= -TOUCH_PX <= gap <= reach and lateral <= reach
        if not explained:
            return False
    return True


def judge_smoothness(video: VideoAnalysis, gravity: float) -> Verdict:
    """Every track's position at frame t must be near the midpoint of t-1 and t+1 (on each
    axis), unless a bounce explains the change (see `_bounce_explains`). Gravity alone moves the
    midpoint by g dt^2 / 2, so the tolerance is twice that plus a margin."""
    dt = 1.0 / video.fps
    tol = gravity * dt * dt + 0.01
    jerks, checked = [], 0
    for track in video.tracks:
        p = video.world(track)
        for i in range(1, len(track.frames) - 1):
            f = track.frames[i]
            if track.frames[i - 1] != f - 1 or track.frames[i + 1] != f + 1:
                continue
            checked += 1
            off = np.abs(p[i] - (p[i - 1] + p[i + 1]) / 2).max()
            if off > tol and not _bounce_explains(video, track, i, tol * video.ppu):
                jerks.append((track.colour, f))
    value = len(jerks) / max(checked, 1)
    note = f"unexplained jumps at {jerks[:6]}" if jerks else "smooth"
    return Verdict(not jerks, value, note)
