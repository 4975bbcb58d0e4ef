"""Properties of the built-in world that can fail: determinism, physics, layout, captions."""

from __future__ import annotations

import hashlib
from collections import Counter
from functools import cache

import numpy as np
import pytest

from sorakit.data.video import write_video
from sorakit.world.clip import annotate, clip_duration, render_clip, render_scene
from sorakit.world.sampling import sample_scene
from sorakit.world.vocab import (
    BACKGROUND,
    COUNT_WORDS,
    MOTIONS,
    PALETTE,
    RELATIONS,
    TEMPLATES,
    vocabulary,
    words_of,
)

FINE_FPS = 60.0  # dense annotations for measuring physics
SEEDS = range(60)


@cache
def fine_annotation(seed: int) -> dict:
    """Annotation of the scene of `seed` (64x64, 2.5 s) sampled at 60 fps, without rendering."""
    scene, traj = sample_scene(seed, aspect=1.0, duration=2.5)
    return annotate(scene, traj, 64, 64, FINE_FPS, int(2.5 * FINE_FPS) + 1, "", "train")


def track(ann: dict, obj: int, key: str = "center_world") -> np.ndarray:
    return np.array([f["objects"][obj][key] for f in ann["frames"]])


def times(ann: dict) -> np.ndarray:
    return np.array([f["time"] for f in ann["frames"]])


def objects_with(motion: str, limit: int = 6) -> list[tuple[dict, int]]:
    found = []
    for seed in SEEDS:
        ann = fine_annotation(seed)
        found += [(ann, o["id"]) for o in ann["objects"] if o["motion"] == motion]
        if len(found) >= limit:
            break
    assert found, f"no {motion} object in the first {len(SEEDS)} scenes"
    return found


def test_same_seed_same_bytes(tmp_path):
    a, b = render_clip(7, 96, 64, 8, 17), render_clip(7, 96, 64, 8, 17)
    assert a.caption == b.caption and a.annotation == b.annotation
    assert np.array_equal(a.frames, b.frames)
    write_video(tmp_path / "a.mp4", a.frames, 8)
    write_video(tmp_path / "b.mp4", b.frames, 8)
    digest = [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("a.mp4", "b.mp4")]
    assert digest[0] == digest[1]
    assert not np.array_equal(render_clip(8, 96, 64, 8, 17).frames, a.frames)


def test_falling_acceleration_matches_gravity():
    for ann, i in objects_with("fall"):
        obj = ann["objects"][i]
        t, y = times(ann), track(ann, i)[:, 1]
        free = (t > obj["start_time"] + 0.02) & (t < (obj["first_landing"] or np.inf) - 0.02)
        if free.sum() < 8:
            continue
        accel = 2.0 * np.polyfit(t[free], y[free], 2)[0]
        assert accel == pytest.approx(ann["scene"]["gravity"], rel=0.01)
        # The same in pixels: the annotation's pixel gravity is consistent with its positions.
        accel_px = 2.0 * np.polyfit(t[free], track(ann, i, "center")[free, 1], 2)[0]
        assert accel_px == pytest.approx(ann["scene"]["gravity_px"], rel=0.01)


def _flights(y: np.ndarray, vy: np.ndarray) -> list[slice]:
    """Frame ranges between ground contacts (a contact is a sign flip of vy from + to -)."""
    flips = np.flatnonzero((vy[:-1] > 0) & (vy[1:] <= 0)) + 1
    edges = [0, *flips.tolist(), len(y)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b - a > 3]


@pytest.mark.parametrize("motion", ["fall", "thrown"])
def test_bounces_lose_energy_never_gain(motion):
    checked = 0
    for ann, i in objects_with(motion):
        g, height = ann["scene"]["gravity"], ann["scene"]["world_height"]
        pos, vel = track(ann, i), track(ann, i, "velocity_world")
        started = times(ann) >= ann["objects"][i]["start_time"]
        pos, vel = pos[started], vel[started]
        energy = 0.5 * (vel**2).sum(1) + g * (height - pos[:, 1])  # per unit mass
        flights = _flights(pos[:, 1], vel[:, 1])
        peaks = [pos[f, 1].min() for f in flights]  # y down: smaller is higher
        per_flight = [energy[f].mean() for f in flights]
        for k in range(1, len(flights)):
            assert peaks[k] > peaks[k - 1], "a bounce rose higher than the one before"
            assert per_flight[k] < per_flight[k - 1], "a bounce gained energy"
            checked += 1
    assert checked > 0


def test_movers_keep_constant_speed():
    for ann, i in objects_with("move"):
        started = times(ann) >= ann["objects"][i]["start_time"] + 0.01
        speed = np.linalg.norm(track(ann, i, "velocity_world")[started], axis=1)
        assert speed.max() == pytest.approx(speed.min(), rel=1e-3)


def test_collisions_conserve_momentum():
    checked = 0
    for seed in SEEDS:
        ann = fine_annotation(seed)
        pair = [o for o in ann["objects"] if o["motion"] == "collide"]
        if not pair:
            continue
        a, b = (o["id"] for o in pair)
        ma, mb = pair[0]["mass"], pair[1]["mass"]
        va, vb = track(ann, a, "velocity_world")[:, 0], track(ann, b, "velocity_world")[:, 0]
        hit = np.flatnonzero(np.sign(va[1:]) != np.sign(va[:-1]))[0] + 1  # first reversal
        before, after = ma * va[0] + mb * vb[0], ma * va[hit + 1] + mb * vb[hit + 1]
        scale = ma * abs(va[0]) + mb * abs(vb[0])
        assert abs(after - before) < 1e-3 * scale
        assert va[hit + 1] * va[0] < 0, "the pair did not bounce apart"
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize("size", [(64, 64), (96, 72), (72, 96), (128, 72), (72, 128)])
def test_objects_on_canvas_and_start_apart(size):
    width, height = size
    for seed in range(12):
        ann = render_clip(seed, width, height, 12, 25).annotation
        tol = 0.006 * min(width, height)  # at most one internal step of ground penetration
        for frame in ann["frames"]:
            for o in frame["objects"]:
                x0, y0, x1, y1 = o["bbox"]
                assert x0 >= -tol and y0 >= -tol and x1 <= width + tol and y1 <= height + tol
        boxes = [o["bbox"] for o in ann["frames"][0]["objects"]]
        for p in range(len(boxes)):
            for q in range(p + 1, len(boxes)):
                a, b = boxes[p], boxes[q]
                gap = max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3])
                assert gap > 0, f"seed {seed}: objects {p} and {q} start overlapping"


RELATION_PHRASES = ("left of", "right of", "above", "over", "below", "under", "beneath")


def test_relation_words_true_of_first_frame():
    checked = 0
    for seed in range(80):
        ann = render_clip(seed, 96, 64, 8, 9).annotation
        first = ann["frames"][0]["objects"]
        group_of = [o["group"] for o in ann["objects"]]
        said = sum(ann["caption"].lower().count(f" {p} ") for p in RELATION_PHRASES)
        assert said == len(ann["relations"]), ann["caption"]
        for rel in ann["relations"]:
            subj = [o["center"] for o in first if group_of[o["id"]] == rel["subject"]]
            obj = [o["center"] for o in first if group_of[o["id"]] == rel["object"]]
            for sx, sy in subj:
                for ox, oy in obj:
                    holds = {
                        "left of": sx < ox,
                        "right of": sx > ox,
                        "above": sy < oy,
                        "below": sy > oy,
                    }[rel["word"]]
                    assert holds, f"seed {seed}: {rel} false in {ann['caption']}"
            checked += 1
    assert checked > 10


def _mask_centroid(frame: np.ndarray, colour: str) -> np.ndarray:
    mask = np.all(frame == np.array(PALETTE[colour], dtype=np.uint8), axis=-1)
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean() + 0.5, ys.mean() + 0.5])


def test_two_frame_rates_and_sizes_agree_in_world_units():
    for seed in (3, 11, 19):
        slow = render_clip(seed, 64, 64, 8, 17)  # 2 s at 8 fps
        fast = render_clip(seed, 128, 128, 24, 49)  # the same 2 s at 24 fps, twice the size
        assert slow.caption == fast.caption
        for k in range(17):
            a = slow.annotation["frames"][k]["objects"]
            b = fast.annotation["frames"][3 * k]["objects"]
            for oa, ob in zip(a, b, strict=True):
                np.testing.assert_allclose(oa["center_world"], ob["center_world"], atol=1e-6)
                np.testing.assert_allclose(np.array(oa["center"]) * 2, ob["center"], atol=1e-3)
        # And in the pixels themselves: a lone colour's centroid lands at the same world point.
        groups = slow.annotation["groups"]
        colours = [
            g["colour"] for g in groups if sum(h["colour"] == g["colour"] for h in groups) == 1
        ]
        for colour in colours:
            if sum(o["colour"] == colour for o in slow.annotation["objects"]) != 1:
                continue
            ca = _mask_centroid(slow.frames[8], colour) / 64
            cb = _mask_centroid(fast.frames[24], colour) / 128
            np.testing.assert_allclose(ca, cb, atol=1.5 / 64)


def test_exact_palette_fill_background_and_antialiased_edges():
    clip = render_clip(5, 128, 128, 8, 1)
    frame = clip.frames[0]
    bg = np.all(frame == np.array(BACKGROUND, dtype=np.uint8), axis=-1)
    exact = np.zeros_like(bg)
    for colour in {o["colour"] for o in clip.annotation["objects"]}:
        exact |= np.all(frame == np.array(PALETTE[colour], dtype=np.uint8), axis=-1)
    for o in clip.annotation["frames"][0]["objects"]:
        x, y = (int(v) for v in o["center"])
        assert np.array_equal(frame[y, x], np.array(PALETTE[o["colour"]], dtype=np.uint8))
    blended = ~(bg | exact)
    assert blended.any(), "no anti-aliased edge pixels"
    assert blended.mean() < 0.05, "too many pixels are neither background nor palette"


def test_sampling_covers_motions_counts_relations_and_sequences():
    motions, counts, relations, n_objects, sequences = Counter(), Counter(), Counter(), Counter(), 0
    for seed in range(150):
        scene, _ = sample_scene(seed, aspect=(1.0, 16 / 9, 9 / 16)[seed % 3], duration=2.0)
        motions.update(g.motion for g in scene.groups)
        counts.update(g.count for g in scene.groups)
        relations.update(r.word for r in scene.relations)
        n_objects[len(scene.objects)] += 1
        sequences += scene.sequence is not None
    assert set(motions) == set(MOTIONS)
    assert set(counts) == set(COUNT_WORDS)
    assert set(relations) == set(RELATIONS)
    assert set(n_objects) == {1, 2, 3, 4}
    assert sequences >= 5


def _template_marks(split: str) -> set[str]:
    """Fixed words of a split's templates, e.g. 'scene shows' for held-out object clauses."""
    marks = set()
    for kinds in TEMPLATES.values():
        for template in kinds[split]:
            for chunk in template.replace(",", " ").split("{"):
                text = chunk.split("}")[-1].strip(" ;")
                if len(text.split()) >= 2 or text in ("placed", "located", "once", "then"):
                    marks.add(text)
    return marks


def test_captions_use_vocabulary_and_split_templates():
    vocab = set(vocabulary())
    heldout_only = _template_marks("heldout") - _template_marks("train")
    assert heldout_only
    seen_heldout = set()
    for seed in range(40):
        train = render_clip(seed, 64, 64, 8, 1, split="train").caption.lower()
        heldout = render_clip(seed, 64, 64, 8, 1, split="heldout").caption.lower()
        assert set(words_of(train)) <= vocab and set(words_of(heldout)) <= vocab
        assert not any(mark in train for mark in heldout_only), train
        seen_heldout |= {mark for mark in heldout_only if mark in heldout}
    assert len(seen_heldout) >= 3


def test_images_are_one_frame_clips_of_the_same_scene():
    image = render_clip(4, 64, 64, 8, 1)
    assert image.frames.shape == (1, 64, 64, 3)
    assert clip_duration(8, 1) == 0.0
    scene, traj = sample_scene(4, 1.0, 0.0)
    again = render_scene(scene, traj, 64, 64, 8, 1)
    assert np.array_equal(again.frames, image.frames)
