"""The continuation test clip by clip: where a model's error comes from.

For every continuation clip of a suite (the first frames given, the rest predicted), the mean
position error (world units) of:
- the planner's physics from the given frames, no model (`plan_from_frames`; the ground's
  restitution fitted to a bounce the frames show, else assumed);
- the same physics told the scene's true restitution: what is left once the one thing the
  given frames cannot show is known;
- the model, when `--model` is given (its continuation, as `sorakit eval world` runs it);
and whether an object under gravity bounces after the given frames (the restitution then
matters).

    python benchmarks/continuation_breakdown.py [--suite default] [--model default]
"""

from __future__ import annotations

import argparse

import numpy as np

from sorakit.eval.generators import GroundTruth, make_generator
from sorakit.eval.run import continuation_errors
from sorakit.eval.suite import SUITES, build_continuation
from sorakit.world.clip import frame_times

COLUMNS = ("physics", "physics_true_restitution", "model")


def bounces_later(scene, trajectory, times: np.ndarray) -> bool:
    """Whether an object under gravity turns upward (bounces, so the restitution matters)
    between `times`."""
    gravity = [o.uses_gravity for o in scene.objects]
    vy = trajectory.sample(times)[1][:, gravity, 1]  # (F, objects under gravity)
    return bool(((vy[:-1] > 0) & (vy[1:] < 0)).any())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="default", choices=sorted(SUITES))
    ap.add_argument("--model", default=None, help="default, or a model folder (optional)")
    args = ap.parse_args()
    # Without a model the truth stands in for one, and its column is left empty.
    generator = make_generator(args.model, None) if args.model else GroundTruth()
    columns = COLUMNS if args.model else COLUMNS[:-1]
    rows = []
    print("| clip | prompt | bounces later | physics | physics, true restitution | model |")
    print("|---|---|---|---|---|---|")
    for cont in build_continuation(SUITES[args.suite]):
        item, c = cont.item, cont.context_frames
        scene, trajectory = item.simulated
        errors = continuation_errors(generator, cont)
        row = [errors.get(k, float("nan")) for k in columns]
        rows.append(row)
        cells = " | ".join(f"{v:.4f}" for v in row) + ("" if args.model else " | ")
        times = frame_times(item.fps, item.num_frames)
        later = "yes" if bounces_later(scene, trajectory, times[c - 1 :]) else "no"
        print(f"| {item.id} | {item.prompt} | {later} | {cells} |", flush=True)
    means = " | ".join(f"**{v:.4f}**" for v in np.mean(rows, axis=0))
    print(f"| mean | | | {means} |" + ("" if args.model else " |"))


if __name__ == "__main__":
    main()
