"""Writing an evaluation: results.json, report.md, physics-fit plots and a contact sheet.

The JSON holds every score and every per-video verdict; the Markdown report is for people: a
summary table (with the names public benchmarks use for the same measurement), a table per
category, plots of the physics fits and a contact sheet of failed videos.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from sorakit.eval.run import Evaluation, ItemResult
from sorakit.eval.suite import BENCHMARK_NAMES, CATEGORIES
from sorakit.fileio import atomic_write

SHEET_ROWS = 16  # failed videos shown on the contact sheet
SHEET_FRAMES = 6  # frames shown per failed video


def to_json(ev: Evaluation) -> dict:
    return {
        "generator": ev.generator,
        "suite": asdict(ev.suite),
        "scores": {c: asdict(s) for c, s in ev.scores.items()},
        "continuation": ev.continuation,
        "videos": [r.to_json() for r in ev.results],
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _summary(ev: Evaluation) -> list[str]:
    lines = [
        "| category | score | passed | train split | held-out split | mean measured value "
        "| also measured as |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in CATEGORIES:
        s = ev.scores.get(c)
        if s is None:
            continue
        lines.append(
            f"| {c} | **{_pct(s.score)}** | {s.passed}/{s.total} | {_pct(s.by_split.get('train'))}"
            f" | {_pct(s.by_split.get('heldout'))} | {_num(s.mean_value)} | {BENCHMARK_NAMES[c]} |"
        )
    return lines


def _continuation(ev: Evaluation) -> list[str]:
    c = ev.continuation
    rows = [
        ("model", c.get("model"), f"{c.get('model_clips')} of {c.get('clips')} clips continued"),
        ("detector on the true future", c.get("detector"), "the floor: detector error alone"),
        ("baseline: freeze the last frame", c.get("freeze"), ""),
        ("baseline: constant velocity", c.get("constant_velocity"), ""),
        ("baseline: physics from the given frames", c.get("physics"),
         "the planner's continuation, no model; restitution fitted to a bounce shown, else 0.7"),
        ("baseline: the same, told the true restitution", c.get("physics_true_restitution"),
         "what only the unseen restitution costs the line above"),
    ]  # fmt: skip
    lines = ["| predictor | mean position error (world units) | |", "|---|---|---|"]
    lines += [f"| {name} | {_num(v)} | {note} |" for name, v, note in rows]
    return lines


def _category_table(category: str, results: list[ItemResult]) -> list[str]:
    lines = [
        f"### {category}",
        "",
        "| video | split | verdict | value | prompt | what was seen |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        v = r.verdicts.get(category)
        if v is None:
            continue
        mark = "pass" if v.passed else "**FAIL**"
        lines.append(
            f"| {r.item.id} | {r.item.split} | {mark} | {_num(v.value)} "
            f"| {r.item.prompt} | {v.note} |"
        )
    return lines + [""]


def plot_physics(ev: Evaluation, folder: Path) -> list[str]:
    """One figure per physics category with a fit; returns the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for category in ("gravity", "throw", "collision"):
        fits = [
            (r.item.id, r.verdicts[category])
            for r in ev.results
            if category in r.verdicts and r.verdicts[category].fit
        ]
        if not fits:
            continue
        cols = min(4, len(fits))
        rows = -(-min(len(fits), 8) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
        for ax, (name, v) in zip(axes.flat, fits[:8], strict=False):
            f = v.fit
            if category == "gravity":
                ax.plot(f["t"], f["y"], "o", ms=3, label="detected")
                tt = np.linspace(f["fit_t"][0], f["fit_t"][-1], 50)
                ax.plot(tt, np.polyval(f["coef_y"], tt), "-", label="fitted parabola")
                ax.invert_yaxis()
                ax.set_xlabel("time (s)")
                ax.set_ylabel("height (y down)")
            elif category == "throw":
                ax.plot(f["x"], f["y"], "o", ms=3)
                tt = np.linspace(f["fit_t"][0], f["fit_t"][-1], 50)
                ax.plot(np.polyval(f["coef_x"], tt), np.polyval(f["coef_y"], tt), "-")
                ax.invert_yaxis()
                ax.set_xlabel("x")
            else:
                ax.plot(f["t"], f["momentum"], "o-", ms=3)
                ax.axvline(f["contact"][0], color="grey", ls=":")
                ax.set_xlabel("time (s)")
                ax.set_ylabel("momentum (area x px/s)")
            ax.set_title(f"{name}: {'pass' if v.passed else 'FAIL'}", fontsize=8)
        for ax in list(axes.flat)[len(fits[:8]) :]:
            ax.axis("off")
        fig.tight_layout()
        name = f"{category}.png"
        fig.savefig(folder / name, dpi=90)
        plt.close(fig)
        written.append(name)
    return written


def contact_sheet(ev: Evaluation, path: Path) -> bool:
    """A grid of frames from failed videos, each row titled with its id and failed categories."""
    failed = [
        r
        for r in ev.results
        if r.analysis is not None and not all(v.passed for v in r.verdicts.values())
    ]
    if not failed:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Round-robin over the categories that failed, so one bad category cannot fill the sheet.
    by_category: dict[str, list[ItemResult]] = {}
    for r in failed:
        first = next(c for c, v in r.verdicts.items() if not v.passed)
        by_category.setdefault(first, []).append(r)
    queues = list(by_category.values())
    failed = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
    failed = failed[:SHEET_ROWS]
    fig, axes = plt.subplots(
        len(failed), SHEET_FRAMES, figsize=(1.6 * SHEET_FRAMES, 1.9 * len(failed)), squeeze=False
    )
    for row, r in zip(axes, failed, strict=True):
        frames = r.analysis.frames
        picks = np.linspace(0, len(frames) - 1, SHEET_FRAMES).round().astype(int)
        for ax, t in zip(row, picks, strict=True):
            ax.imshow(frames[t], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        bad = ", ".join(c for c, v in r.verdicts.items() if not v.passed)
        row[0].set_title(f"{r.item.id} failed: {bad}\n{r.item.prompt[:90]}", fontsize=7, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write_report(ev: Evaluation, out: Path) -> Path:
    """Write results.json, report.md, plots/*.png and failed.png under `out`; returns the
    report's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    text = json.dumps(to_json(ev), indent=1)
    atomic_write(out / "results.json", lambda p: p.write_text(text))
    plots = plot_physics(ev, out / "plots")
    has_sheet = contact_sheet(ev, out / "failed.png")
    s = ev.suite
    lines = [
        f"# World evaluation: {ev.generator}",
        "",
        f"Suite `{s.name}`: {s.width}x{s.height}, {s.fps:g} fps, {s.num_frames} frames, "
        f"{s.per_category} prompts per category and caption split; {len(ev.results)} videos. "
        "Scores are the fraction of videos whose verdict passes; the held-out split uses "
        "caption templates never used in training.",
        "",
        "## Scores",
        "",
        *_summary(ev),
        "",
        "## Continuation (given the first frames, predict the rest)",
        "",
        f"{s.context_frames} frames given; error is the mean distance of each object from the "
        "simulator's truth over the predicted frames (a lost object costs 1.0).",
        "",
        *_continuation(ev),
        "",
    ]
    if plots:
        lines += ["## Physics fits", ""] + [f"![{p}](plots/{p})" for p in plots] + [""]
    if has_sheet:
        lines += ["## Failed videos", "", "![failed videos](failed.png)", ""]
    lines += ["## Per category", ""]
    for c in CATEGORIES:
        lines += _category_table(c, ev.results)
    path = out / "report.md"
    atomic_write(path, lambda p: p.write_text("\n".join(lines)))
    return path
