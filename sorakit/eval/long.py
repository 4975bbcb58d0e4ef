"""The long-video evaluation (`sorakit eval world --suite long`): minute-long videos scored
against the simulation they were planned from, every 10-second window.

Long-video methods are known to drift after 20-40 s: objects vanish or multiply, colours and
shapes deform, motion dies. Each video here is made from one prompt, planned as one simulation
of the whole minute, and each window of it is scored against that simulation:
- permanence: every planned object is found (its colour, near its planned place) on at least
  90% of the window's frames;
- no extra object: no detection beyond the planned objects on more than 10% of the frames;
- unchanged: each object's detected area within 35% of its first second's, and its majority
  shape the first second's (the detector's colour classes are its colour test: a drifting
  colour leaves its class and the object is lost);
- position error: the median distance, in pixels, between each found object and its planned
  centre;
- gravity: g fitted on every free flight of the window with at least `MIN_ARC` frames.
Without a plan (text only) the same windows are scored against the plan the prompt would have
had: position error and gravity then say how far the video is from the physics, not more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sorakit.world.detect import Detection, detect_video
from sorakit.world.scene import GRAVITY

# The scenes the issue names: repeated bounces to rest, movers bouncing off the walls many
# times, events in order, collisions (colliders meet again after every wall bounce).
LONG_PROMPTS: dict[str, tuple[str, ...]] = {
    "bounces": ("a red ball falls and bounces", "a big yellow box drops"),
    "movers": ("a green ball moves right", "a big blue box slides left"),
    "sequence": ("a red ball falls, then a blue box slides right",),
    "collision": ("a yellow ball and a purple box collide",),
}
WINDOW = 10.0  # seconds
PERMANENCE = 0.9  # share of a window's frames each object must be found on
EXTRA = 0.1  # share of frames with an unplanned detection that counts as an extra object
AREA_TOL = 0.35
GRAVITY_TOL = 0.1
MIN_ARC = 5  # frames of free flight a fit of g needs (a first fall at 8 fps has about 5)
MIN_RISE = 3.0  # pixels an arc must span: the last hops before rest are too small to fit
MOVING = 0.05  # pixels a frame: slower is at rest
NEAR = 0.25  # a detection this far (canvas fractions) from the planned centre is not the object


@dataclass
class Window:
    start: float  # seconds
    permanence: bool
    extra: bool
    unchanged: bool
    position_error: float | None  # pixels, median over found objects and frames
    g_fits: list[float] = field(default_factory=list)

    @property
    def g_ok(self) -> bool:
        return all(abs(g - GRAVITY) <= GRAVITY_TOL * GRAVITY for g in self.g_fits)


def _match(planned: list[dict], found: list[Detection], near: float) -> list[Detection | None]:
    """Each planned object's detection: its colour, nearest its planned centre, each detection
    used once."""
    out, used = [], set()
    for o in planned:
        best, dist = None, near
        for k, d in enumerate(found):
            gap = float(np.hypot(*np.subtract(d.center, o["center"])))
            if k not in used and d.colour == o["colour"] and gap <= dist:
                best, dist = k, gap
        if best is not None:
            used.add(best)
        out.append(None if best is None else found[best])
    return out


def _arcs(y: np.ndarray) -> list[slice]:
    """Free flights of a planned track (y down, pixels): the frames between two ground
    contacts (local maxima of y) or from a release, at least MIN_ARC long."""
    vy = np.diff(y)
    contacts = [0] + [i for i in range(1, len(y) - 1) if vy[i - 1] > 0 >= vy[i]] + [len(y)]
    arcs = []
    for a, b in zip(contacts, contacts[1:], strict=False):
        moving = np.flatnonzero(np.abs(vy[a : b - 1]) > MOVING)
        if moving.size:
            # The contact frame itself is left out: it may already hold the bounce.
            lo = a + int(moving[0])
            if b - lo >= MIN_ARC and np.ptp(y[lo:b]) >= MIN_RISE:
                arcs.append(slice(lo, b))
    return arcs


def score_windows(frames: np.ndarray, plan: dict, fps: float) -> list[Window]:
    """Every WINDOW seconds of `frames` scored against `plan` (one object list per frame)."""
    ppu = float(min(frames.shape[1:3]))
    detections = detect_video(frames)
    per_frame = [f["objects"] for f in plan["frames"]][: len(frames)]
    matched = [_match(p, d, NEAR * ppu) for p, d in zip(per_frame, detections, strict=True)]
    ids = [o["id"] for o in per_frame[0]]
    falling = {o["id"] for o in plan["objects"] if o["motion"] in ("fall", "thrown")}
    first = slice(0, max(1, int(round(fps))))
    reference = {i: _track_stats(matched[first], k) for k, i in enumerate(ids)}
    per_window = max(1, int(round(WINDOW * fps)))
    out = []
    for start in range(0, max(1, len(frames) - 1), per_window):
        end = start + per_window
        span = slice(start, len(frames) if end >= len(frames) - 1 else end)  # 1 + k frames
        out.append(_window(span, fps, matched, detections, per_frame, ids, falling, reference,
                           ppu))  # fmt: skip
    return out


def _track_stats(matched: list[list[Detection | None]], k: int) -> tuple[float, str] | None:
    """(median area, majority shape) of object k over `matched` frames, or None if unseen."""
    seen = [m[k] for m in matched if m[k] is not None]
    if not seen:
        return None
    shapes = [d.shape for d in seen]
    return float(np.median([d.area for d in seen])), max(set(shapes), key=shapes.count)


def _kept(now: tuple[float, str] | None, then: tuple[float, str] | None) -> bool:
    """Whether an object's (area, shape) in a window is its first second's."""
    if now is None or then is None:
        return False
    return abs(now[0] - then[0]) <= AREA_TOL * then[0] and now[1] == then[1]


def _window(span, fps, matched, detections, per_frame, ids, falling, reference, ppu) -> Window:
    rows = matched[span]
    found = np.array([[m is not None for m in row] for row in rows])  # (frames, objects)
    permanence = bool(found.mean(0).min() >= PERMANENCE) if found.size else False
    extra_frames = [len(d) > sum(m is not None for m in row)
                    for d, row in zip(detections[span], rows, strict=True)]  # fmt: skip
    unchanged = all(_kept(_track_stats(rows, k), reference[k]) for k in range(len(ids)))
    errors = [float(np.hypot(*np.subtract(m.center, o["center"])))
              for row, objs in zip(rows, per_frame[span], strict=True)
              for m, o in zip(row, objs, strict=True) if m is not None]  # fmt: skip
    fits = []
    for k, i in enumerate(ids):
        if i not in falling:
            continue
        planned_y = np.array([objs[k]["center"][1] for objs in per_frame[span]])
        for arc in _arcs(planned_y):
            seen = [(t, rows[t][k]) for t in range(arc.start, arc.stop) if rows[t][k] is not None]
            if len(seen) >= MIN_ARC:
                t = np.array([s[0] for s in seen]) / fps
                y = np.array([s[1].center[1] for s in seen]) / ppu
                fits.append(2.0 * float(np.polyfit(t, y, 2)[0]))
    return Window(
        start=span.start / fps, permanence=permanence, extra=float(np.mean(extra_frames)) > EXTRA,
        unchanged=unchanged, position_error=float(np.median(errors)) if errors else None,
        g_fits=fits,
    )  # fmt: skip


@dataclass
class LongResult:
    prompt: str
    category: str
    windows: list[Window]
    seconds: float  # wall time to make the video


def run_long(
    make: Callable[[str], tuple[np.ndarray, dict, float]],
    on_video: Callable[[LongResult], None] | None = None,
) -> list[LongResult]:
    """Make and score every prompt; `make(prompt)` -> (frames, plan, wall seconds)."""
    results = []
    for category, prompts in LONG_PROMPTS.items():
        for prompt in prompts:
            frames, plan, seconds = make(prompt)
            result = LongResult(prompt, category, score_windows(frames, plan, plan["scene"]["fps"]),
                                seconds)  # fmt: skip
            results.append(result)
            if on_video is not None:
                on_video(result)
    return results


def summary(results: list[LongResult]) -> list[dict]:
    """Per window start: the share of videos passing each check, and the median error."""
    starts = sorted({w.start for r in results for w in r.windows})
    rows = []
    for start in starts:
        ws = [w for r in results for w in r.windows if w.start == start]
        errors = [w.position_error for w in ws if w.position_error is not None]
        fits = [g for w in ws for g in w.g_fits]
        rows.append({
            "window": f"{start:g}-{start + WINDOW:g} s",
            "permanence": float(np.mean([w.permanence for w in ws])),
            "no_extra": float(np.mean([not w.extra for w in ws])),
            "unchanged": float(np.mean([w.unchanged for w in ws])),
            "position_error_px": float(np.median(errors)) if errors else None,
            "g_within_10pct": f"{sum(abs(g - GRAVITY) <= GRAVITY_TOL * GRAVITY for g in fits)}"
                              f"/{len(fits)}",
        })  # fmt: skip
    return rows


def write_long_report(results: list[LongResult], out: Path) -> Path:
    """report.md (a table per window, each video's line) and error.png (error against time)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    rows = summary(results)
    lines = ["# Long videos: every 10-second window against the plan", "",
             "| window | permanence | no extra object | unchanged | median position error (px) "
             "| falls with g within 10% |", "|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        err = "-" if r["position_error_px"] is None else f"{r['position_error_px']:.2f}"
        lines.append(f"| {r['window']} | {100 * r['permanence']:.0f}% | "
                     f"{100 * r['no_extra']:.0f}% | {100 * r['unchanged']:.0f}% | {err} | "
                     f"{r['g_within_10pct']} |")  # fmt: skip
    lines += ["", "| video | category | wall time | windows failing permanence |",
              "|---|---|---|---|"]  # fmt: skip
    for r in results:
        bad = [f"{w.start:g} s" for w in r.windows if not w.permanence]
        lines.append(f"| {r.prompt} | {r.category} | {r.seconds:.1f} s | {', '.join(bad) or '-'} |")
    lines += ["", "![position error against time](error.png)", ""]
    fig, ax = plt.subplots(figsize=(6, 3))
    for r in results:
        xs = [w.start + WINDOW / 2 for w in r.windows if w.position_error is not None]
        ys = [w.position_error for w in r.windows if w.position_error is not None]
        ax.plot(xs, ys, marker="o", label=r.prompt[:32])
    ax.set_xlabel("seconds")
    ax.set_ylabel("median position error (px)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "error.png", dpi=100)
    plt.close(fig)
    (out / "results.json").write_text(json.dumps(
        {"windows": rows, "videos": [{"prompt": r.prompt, "category": r.category,
                                       "seconds": r.seconds,
                                       "windows": [w.__dict__ for w in r.windows]}
                                      for r in results]}, indent=1))  # fmt: skip
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report
