"""Running the world evaluation: suite -> videos -> verdicts -> scores, plus continuation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from sorakit.eval import metrics as M
from sorakit.eval.generators import Generator, GroundTruth, PipelineGenerator
from sorakit.eval.suite import (
    CATEGORIES,
    ContinuationItem,
    SuiteConfig,
    SuiteItem,
    build_continuation,
    build_suite,
    expected_facts,
)
from sorakit.planner import PlanError, parse
from sorakit.planner.from_frames import plan_from_frames
from sorakit.world.clip import frame_times
from sorakit.world.detect import detect_video


@dataclass
class ItemResult:
    item: SuiteItem
    verdicts: dict[str, M.Verdict]
    analysis: M.VideoAnalysis | None  # None when there was no video or it passed everything

    def to_json(self) -> dict:
        return {**self.item.to_json(), "verdicts": {k: asdict(v) for k, v in self.verdicts.items()}}


def judge(item: SuiteItem, video: M.VideoAnalysis) -> dict[str, M.Verdict]:
    """The item's own category verdict and the verdicts every video gets."""
    scene = item.scene
    exp = expected_facts(scene)
    own: dict[str, Callable[[], M.Verdict]] = {
        "colour": lambda: M.judge_colour(video, exp),
        "shape": lambda: M.judge_shape(video, exp),
        "count": lambda: M.judge_count(video, exp),
        "relation": lambda: M.judge_relation(video, scene),
        "binding": lambda: M.judge_binding(video, exp),
        "motion": lambda: M.judge_motion(video, scene),
        "gravity": lambda: M.judge_gravity(video, scene),
        "throw": lambda: M.judge_throw(video, scene),
        "collision": lambda: M.judge_collision(video, scene),
    }
    verdicts = {item.category: own[item.category](), "no_extra": M.judge_no_extra(video, exp)}
    if len(video.frames) >= 2:
        verdicts["permanence"] = M.judge_permanence(video)
        verdicts["flicker"] = M.judge_flicker(video)
    if len(video.frames) >= 3:
        verdicts["smoothness"] = M.judge_smoothness(video, scene.gravity)
    return verdicts


def evaluate_item(generator: Generator, item: SuiteItem) -> ItemResult:
    generated = generator.generate(item)
    if generated is None:
        missing = M.Verdict(False, None, "no video")
        return ItemResult(item, {c: missing for c in (item.category, "no_extra")}, None)
    video = M.VideoAnalysis(generated.frames, generated.fps)
    return ItemResult(item, judge(item, video), video)


@dataclass
class CategoryScore:
    category: str
    score: float  # fraction of videos passing
    passed: int
    total: int
    by_split: dict[str, float] = field(default_factory=dict)
    mean_value: float | None = None


def score(results: list[ItemResult]) -> dict[str, CategoryScore]:
    scores = {}
    for category in CATEGORIES:
        rows = [(r.item.split, r.verdicts[category]) for r in results if category in r.verdicts]
        if not rows:
            continue
        passed = sum(v.passed for _, v in rows)
        by_split = {}
        for split in sorted({s for s, _ in rows}):
            mine = [v.passed for s, v in rows if s == split]
            by_split[split] = sum(mine) / len(mine)
        values = [v.value for _, v in rows if v.value is not None and np.isfinite(v.value)]
        scores[category] = CategoryScore(
            category,
            passed / len(rows),
            passed,
            len(rows),
            by_split,
            float(np.mean(values)) if values else None,
        )
    return scores


# --- continuation ------------------------------------------------------------------------------


def _positions_by_colour(frames: np.ndarray, colours: list[str]) -> np.ndarray:
    """(T, N, 2) pixel centres of the largest detection of each colour; NaN when missing."""
    out = np.full((len(frames), len(colours), 2), np.nan)
    for t, dets in enumerate(detect_video(frames)):
        for n, colour in enumerate(colours):
            mine = [d for d in dets if d.colour == colour]
            if mine:
                out[t, n] = max(mine, key=lambda d: d.area).center
    return out


MISSING_PENALTY = 1.0  # world units charged for an object a prediction lost


def _error(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance (world units) over frames and objects; a missing object costs the penalty."""
    dist = np.linalg.norm(pred - truth, axis=-1)
    return float(np.where(np.isnan(dist), MISSING_PENALTY, dist).mean())


def _physics(item: SuiteItem, context: np.ndarray, colours: list[str], restitution=None):
    """(F, N, 2) world-unit centres after the context that the planner's physics continuation
    gives (no model), objects in `colours` order; None where it cannot plan the clip."""
    c, ppu = len(context), float(min(item.width, item.height))
    try:
        plan = plan_from_frames(parse(item.prompt), context, item.fps, item.num_frames, restitution)
    except PlanError:
        return None
    out = np.full((item.num_frames - c, len(colours), 2), np.nan)
    colour_of = {o["id"]: o["colour"] for o in plan["objects"]}
    for t, frame in enumerate(plan["frames"][c:]):
        for o in frame["objects"]:
            if colour_of[o["id"]] in colours:
                out[t, colours.index(colour_of[o["id"]])] = np.asarray(o["center"]) / ppu
    return out


CONTINUATION_PREDICTORS = (
    "model", "detector", "freeze", "constant_velocity", "physics", "physics_true_restitution",
)  # fmt: skip


def continuation_errors(generator: Generator, cont: ContinuationItem) -> dict[str, float]:
    """One clip's future position error (world units), by predictor: the generator ("model"),
    the detector on the true future, and baselines working from the detected context: freeze
    the last frame, extrapolate at constant velocity, and the planner's physics continuation
    (with the ground's restitution fitted or assumed as the planner does, and told the true
    one: a bounce the context has not shown depends on a restitution the context cannot tell).
    A predictor that cannot continue the clip is left out."""
    item, c = cont.item, cont.context_frames
    scene, trajectory = item.simulated
    colours = [o.colour for o in scene.objects]
    ppu = float(min(item.width, item.height))
    truth = trajectory.sample(frame_times(item.fps, item.num_frames))[0][c:]  # (F, N, 2)
    full = GroundTruth().generate(item).frames
    context = _positions_by_colour(full[:c], colours) / ppu
    steps = np.arange(1, len(truth) + 1)[:, None, None]
    last, velocity = context[-1][None], (context[-1] - context[-2])[None]
    errors = {
        "detector": _error(_positions_by_colour(full[c:], colours) / ppu, truth),
        "freeze": _error(np.repeat(last, len(truth), 0), truth),
        "constant_velocity": _error(last + velocity * steps, truth),
    }
    for key, restitution in (("physics", None), ("physics_true_restitution", scene.restitution)):
        physics = _physics(item, full[:c], colours, restitution)
        if physics is not None:
            errors[key] = _error(physics, truth)
    predicted = generator.continue_clip(item, full[:c])
    if predicted is not None and len(predicted.frames) == item.num_frames:
        future = _positions_by_colour(predicted.frames[c:], colours) / ppu
        errors["model"] = _error(future, truth)
    return errors


def continuation_scores(
    generator: Generator, items: list[ContinuationItem]
) -> dict[str, float | int | None]:
    """Mean over `items` of each predictor's `continuation_errors`, with the number of clips
    and of clips the generator continued."""
    per_clip = [continuation_errors(generator, cont) for cont in items]
    out: dict[str, float | int | None] = {}
    for key in CONTINUATION_PREDICTORS:
        values = [e[key] for e in per_clip if key in e]
        out[key] = float(np.mean(values)) if values else None
    out["clips"] = len(items)
    out["model_clips"] = sum("model" in e for e in per_clip)
    return out


@dataclass
class Evaluation:
    generator: str
    suite: SuiteConfig
    results: list[ItemResult]
    scores: dict[str, CategoryScore]
    continuation: dict[str, float | int | None]


def run_name(generator: Generator, config: SuiteConfig) -> str:
    """The generator's name for a run of suite `config`: a pipeline's says "+cascade" only
    where the suite's size and frame rate make the cascade run."""
    if isinstance(generator, PipelineGenerator):
        return generator.name_for(config)
    return generator.name


def evaluate(
    generator: Generator,
    config: SuiteConfig,
    on_item: Callable[[ItemResult], None] | None = None,
) -> Evaluation:
    results = []
    for item in build_suite(config):
        result = evaluate_item(generator, item)
        if on_item is not None:
            on_item(result)
        if all(v.passed for v in result.verdicts.values()):
            result.analysis = None  # only failed videos' frames are kept, for the contact sheet
        results.append(result)
    continuation = continuation_scores(generator, build_continuation(config))
    return Evaluation(run_name(generator, config), config, results, score(results), continuation)
