"""Layout maps from annotations, and the transformer's layout input."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from sorakit.data.layout import (
    LAYOUT_CHANNELS,
    LayoutError,
    box_track,
    contrast_track,
    empty_layout,
    layout_channels,
    layout_map,
)
from sorakit.models.dit import DIT_PRESETS, DiT, DiTConfig
from sorakit.models.text import TextEmbeddingCache
from sorakit.models.tokens import Sample, pack, stack, to_latents
from sorakit.train.dit import DiTTrainer, _init_from, make_config, token_cover
from sorakit.train.latents import LatentDataset, write_meta, write_shard
from sorakit.world.clip import render_clip
from sorakit.world.vocab import BACKGROUND, COLOURS, SHAPES


def _annotation(boxes_per_frame, fps=8.0, width=40, height=20, colour="blue", shape="square"):
    frames = [
        {"index": i, "time": i / fps,
         "objects": [{"id": 0, "colour": colour, "shape": shape, "bbox": list(box)}]}
        for i, box in enumerate(boxes_per_frame)
    ]  # fmt: skip
    return {"scene": {"width": width, "height": height, "fps": fps}, "frames": frames}


def test_box_on_one_cell_fills_that_cell_only():
    # 40x20 canvas, latent 4x8 grid (cells of 5x5 px); the box covers cell (row 1, col 2).
    track = box_track(_annotation([(10, 5, 15, 10)]))
    m = layout_map(track, (1, 4, 8), fps=8.0, temporal_factor=4)
    assert m.shape == (LAYOUT_CHANNELS, 1, 4, 8)
    assert torch.all(m[0] == 1)  # present
    expected = torch.zeros(4, 8)
    expected[1, 2] = 1
    torch.testing.assert_close(m[1, 0], expected)
    torch.testing.assert_close(m[2 + COLOURS.index("blue"), 0], expected)
    torch.testing.assert_close(m[2 + len(COLOURS) + SHAPES.index("square"), 0], expected)
    assert m[2 + COLOURS.index("red")].sum() == 0


def test_latent_frames_average_the_pixel_frames_they_encode():
    # Frame 0 in cell 0; frames 1-4 (latent 1 with temporal factor 4) in cells 1, 1, 2, 2.
    boxes = [(0, 0, 5, 5), (5, 0, 10, 5), (5, 0, 10, 5), (10, 0, 15, 5), (10, 0, 15, 5)]
    m = layout_map(box_track(_annotation(boxes)), (2, 4, 8), fps=8.0, temporal_factor=4)
    assert m[1, 0, 0, 0] == 1 and m[1, 0].sum() == 1  # latent 0 is frame 0 alone
    torch.testing.assert_close(m[1, 1, 0, :3], torch.tensor([0.0, 0.5, 0.5]))


def test_per_frame_occupancy_keeps_the_order_inside_a_latent_frame():
    # As above; with one occupancy channel per pixel frame, latent 1 says the box is in cell 1
    # on its first two frames and cell 2 on its last two, which the average cannot tell from
    # the reverse. Latent 0 repeats frame 0; kinds (colour, shape) stay averaged.
    boxes = [(0, 0, 5, 5), (5, 0, 10, 5), (5, 0, 10, 5), (10, 0, 15, 5), (10, 0, 15, 5)]
    track = box_track(_annotation(boxes))
    avg = layout_map(track, (2, 4, 8), fps=8.0, temporal_factor=4)
    per = layout_map(track, (2, 4, 8), fps=8.0, temporal_factor=4, frames=4)
    assert per.shape == (layout_channels(4), 2, 4, 8) == (LAYOUT_CHANNELS + 3, 2, 4, 8)
    cells = per[1:5, 1, 0, :3]  # (frame, cell) of latent 1
    torch.testing.assert_close(cells, torch.tensor([[0, 1.0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]]))
    assert torch.equal(per[1:5, 0], avg[1:2, 0].expand(4, -1, -1))
    torch.testing.assert_close(per[1:5].mean(0), avg[1])
    assert torch.equal(per[5:], avg[2:]) and torch.equal(per[0], avg[0])
    with pytest.raises(ValueError, match="temporal factor"):
        layout_map(track, (2, 4, 8), fps=8.0, temporal_factor=4, frames=2)
    with pytest.raises(ValueError, match="channels"):
        DiTConfig(layout_channels=LAYOUT_CHANNELS, layout_frames=4)


def test_per_frame_kinds_hold_each_frames_colour_and_shape():
    # As above, with colour and shape per pixel frame too: on each frame the blue and square
    # channels are where the box is on that frame (the occupancy), not a streak over all four.
    boxes = [(0, 0, 5, 5), (5, 0, 10, 5), (5, 0, 10, 5), (10, 0, 15, 5), (10, 0, 15, 5)]
    track = box_track(_annotation(boxes))
    avg = layout_map(track, (2, 4, 8), fps=8.0, temporal_factor=4, frames=4)
    per = layout_map(track, (2, 4, 8), fps=8.0, temporal_factor=4, frames=4, kind_frames=4)
    assert per.shape == (layout_channels(4, 4), 2, 4, 8)
    assert torch.equal(per[:5], avg[:5])  # present and occupancy unchanged
    kinds = per[5:].unflatten(0, (len(COLOURS) + len(SHAPES), 4))  # (kind, frame, T, H, W)
    for kind in (COLOURS.index("blue"), len(COLOURS) + SHAPES.index("square")):
        assert torch.equal(kinds[kind], per[1:5])
    assert kinds[COLOURS.index("red")].sum() == 0
    torch.testing.assert_close(kinds.mean(1), avg[5:])
    with pytest.raises(ValueError, match="kind_frames"):
        layout_map(track, (2, 4, 8), fps=8.0, temporal_factor=4, frames=4, kind_frames=2)


def test_every_rendered_object_pixel_is_inside_the_layout():
    clip = render_clip(seed=3, width=48, height=32, fps=8.0, num_frames=5)
    track = box_track(clip.annotation)
    m = layout_map(track, (5, 32, 48), fps=8.0, temporal_factor=1)  # pixel grid, every frame
    drawn = np.abs(clip.frames.astype(int) - np.array(BACKGROUND)).sum(-1) > 30  # (T, H, W)
    assert drawn.any()
    assert torch.all(m[1][torch.from_numpy(drawn)] > 0)
    assert (m[1] > 0).float().mean() < 0.6  # and the layout is not the whole canvas


@pytest.mark.parametrize("shape, area", [("circle", np.pi / 4), ("triangle", 0.5), ("square", 1)])
def test_shape_fill_covers_the_outline_area_inside_the_box(shape, area):
    # A 20x20 px box on 5x5 px cells: 16 cells, of which the outline covers `area`.
    track = box_track(_annotation([(10, 0, 30, 20)], shape=shape))
    m = layout_map(track, (1, 4, 8), fps=8.0, temporal_factor=4, fill="shape")
    assert m[1].sum().item() == pytest.approx(16 * area, rel=0.02)
    assert m[1, 0, :, :2].sum() == 0 and m[1, 0, :, 6:].sum() == 0  # nothing outside the box
    if shape == "circle":
        assert m[1, 0, 0, 2] < 0.6 and m[1, 0, 1, 3] == 1  # a cut corner, a full middle cell


def test_shape_fill_matches_the_rendered_objects_better_than_boxes():
    # Rendered at 256 px (16 px per cell of a 16x16 grid) so that thresholding the
    # anti-aliased edge pixels hardly matters.
    clips = (render_clip(seed=s, width=256, height=256, fps=8.0, num_frames=1) for s in range(50))
    shapes = lambda c: {o["shape"] for o in c.annotation["objects"]}  # noqa: E731
    clip = next(c for c in clips if {"circle", "triangle"} <= shapes(c))
    drawn = np.abs(clip.frames[0].astype(int) - np.array(BACKGROUND)).sum(-1) > 30  # (H, W)
    truth = torch.from_numpy(drawn.reshape(16, 16, 16, 16).mean(axis=(1, 3))).float()
    track = box_track(clip.annotation)
    error = {
        fill: (layout_map(track, (1, 16, 16), 8.0, 1, fill=fill)[1, 0] - truth).abs().sum().item()
        for fill in ("box", "shape")
    }
    assert error["shape"] < 0.5 * error["box"], error


def test_contrast_track_draws_small_still_discs_as_squares_and_changes_nothing_else():
    shapes = ["circle", "square", "triangle"]
    track = box_track(
        {"scene": {"width": 40, "height": 20},
         "frames": [{"time": 0.0, "objects": [
             {"id": k, "colour": "red", "shape": s, "bbox": [10 * k, 0, 10 * k + 8, 8]}
             for k, s in enumerate(shapes)]}]}
    )  # fmt: skip
    contrast = contrast_track(track, (4, 8))  # cells of 5 px: the boxes span 1.6 cells
    assert [SHAPES[s] for s in contrast.shapes] == ["square", "square", "triangle"]
    np.testing.assert_array_equal(contrast.boxes, track.boxes)
    np.testing.assert_array_equal(contrast.colours, track.colours)
    before = layout_map(track, (1, 4, 8), 8.0, 4, fill="shape")
    after = layout_map(contrast, (1, 4, 8), 8.0, 4, fill="shape")
    assert after[2 + len(COLOURS) + SHAPES.index("circle")].sum() == 0
    changed = (after != before).any(0)[0]  # (4, 8): the cells the disc's box touches, only
    assert changed[:2, :2].all() and not changed[:, 2:].any() and not changed[2:].any()
    no_disc = box_track(_annotation([(10, 5, 15, 10)], shape="triangle"))
    assert contrast_track(no_disc, (4, 8)).shapes.tolist() == no_disc.shapes.tolist()
    moving = box_track(_annotation([(10, 5, 15, 10), (12, 5, 17, 10)], shape="circle"))
    assert contrast_track(moving, (4, 8)).shapes.tolist() == moving.shapes.tolist()  # a streak
    still = box_track(_annotation([(10, 5, 15, 10)] * 3, shape="circle"))
    assert [SHAPES[s] for s in contrast_track(still, (4, 8)).shapes] == ["square"]
    large = box_track(_annotation([(0, 0, 15, 15)], shape="circle"))  # 3 cells across
    assert [SHAPES[s] for s in contrast_track(large, (4, 8)).shapes] == ["circle"]
    assert [SHAPES[s] for s in contrast_track(large, (2, 4)).shapes] == ["square"]  # 1.5 cells


def test_a_transformer_names_its_layout_fill():
    assert DIT_PRESETS["world-layout-outline"].layout_fill == "shape"
    with pytest.raises(ValueError, match="layout_fill"):
        replace(DIT_PRESETS["world-layout-per-frame"], layout_fill="blob")


def test_renamed_presets_keep_their_old_names_as_aliases():
    # Checkpoints and scripts name presets the old way: they must still resolve, unlisted.
    assert DIT_PRESETS["world-lfs"] is DIT_PRESETS["world-layout-outline"]
    assert "world-lfc" in DIT_PRESETS and "world-lfc" not in list(DIT_PRESETS)
    assert make_config("tiny", model="world-lf").model == "world-lf"
    with pytest.raises(ValueError, match="unknown model 'world-xx'"):
        make_config("tiny", model="world-xx")
    with pytest.raises(ValueError, match="unknown training settings: stpes"):
        make_config("tiny", stpes=5)


def test_bad_annotation_raises_layout_error():
    with pytest.raises(LayoutError):
        box_track({"frames": []})


def _layout_model() -> DiT:
    torch.manual_seed(0)
    model = DiT(DIT_PRESETS["tiny"])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def _sample(shape, layout: bool, seed: int) -> Sample:
    g = torch.Generator().manual_seed(seed)
    latent = torch.randn(4, *shape, generator=g)
    lay = torch.rand(LAYOUT_CHANNELS, *shape, generator=g) if layout else None
    return Sample(latent, torch.tensor(0.5), 8.0, torch.randn(4, 384, generator=g), lay)


def test_layout_changes_the_output_and_missing_means_dropped():
    model = _layout_model()
    patch, ref = model.config.patch_size, model.config.ref_fps
    s = _sample((2, 4, 4), layout=True, seed=1)
    none = Sample(s.latent, s.t, s.fps, s.text)
    dropped = Sample(s.latent, s.t, s.fps, s.text, empty_layout((2, 4, 4)))
    with torch.no_grad():
        with_layout = model(stack([s], patch, ref))
        without = model(stack([none], patch, ref))
        assert not torch.allclose(with_layout, without, atol=1e-4)
        torch.testing.assert_close(model(stack([dropped], patch, ref)), without)


def test_packed_equals_alone_with_layouts():
    model = _layout_model()
    patch, ref = model.config.patch_size, model.config.ref_fps
    samples = [_sample((2, 4, 4), True, 1), _sample((1, 6, 2), False, 2)]
    with torch.no_grad():
        packed = pack(samples, patch, ref)
        together = to_latents(packed, model(packed), patch)
        for s, out in zip(samples, together, strict=True):
            alone = stack([s], patch, ref)
            torch.testing.assert_close(out, to_latents(alone, model(alone), patch)[0],
                                       atol=1e-5, rtol=1e-4)  # fmt: skip


def _world_cache(folder) -> LatentDataset:
    """A cache of two random latents: one beside a world annotation, one (real video) without."""
    clip = render_clip(seed=5, width=32, height=32, fps=8.0, num_frames=5)
    (folder / "clip.json").write_text(json.dumps(clip.annotation))
    tensors = {k: torch.randn(4, 2, 8, 8).half() for k in ("0", "1")}
    records = [
        {"key": k, "caption": "c", "fps": 8.0, "shape": [4, 2, 8, 8], "source": str(src)}
        for k, src in (("0", folder / "clip.mp4"), ("1", folder / "real.mp4"))
    ]
    write_shard(folder / "shard-00000", tensors, records)
    text = TextEmbeddingCache("random", 384, {c: torch.randn(3, 384) for c in ("c", "")})
    meta = {"clips": 2, "latent_channels": 4, "text_dim": 384, "temporal_factor": 4}
    write_meta(folder, text, meta)
    return LatentDataset(folder)


def test_cache_reads_layouts_beside_world_clips(tmp_path):
    data = _world_cache(tmp_path)
    world, real = data.layout(0), data.layout(1)
    assert world.shape == (LAYOUT_CHANNELS, 2, 8, 8)
    assert world[0].min() == 1 and world[1].sum() > 0
    assert torch.equal(real, empty_layout((2, 8, 8)))  # no annotation: the dropped layout
    assert torch.equal(data.layout(0, dropped=True), real)
    per_frame = data.layout(0, frames=4)
    assert per_frame.shape == (layout_channels(4), 2, 8, 8)
    torch.testing.assert_close(per_frame[1:5].mean(0), world[1])
    assert torch.equal(data.layout(1, frames=4), empty_layout((2, 8, 8), frames=4))


def test_init_from_text_only_model_keeps_its_outputs(tmp_path):
    _world_cache(tmp_path)
    text_only = DiT(replace(DIT_PRESETS["tiny"], layout_channels=0))
    with torch.no_grad():
        for p in text_only.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    text_only.save_pretrained(tmp_path / "text-only")
    cfg = make_config("tiny", data=str(tmp_path), out=str(tmp_path / "run"),
                      init=str(tmp_path / "text-only"))  # fmt: skip
    trainer = DiTTrainer(cfg)
    s = _sample((2, 4, 4), layout=True, seed=1)
    patch, ref = text_only.config.patch_size, text_only.config.ref_fps
    with torch.no_grad():  # the new layout input starts at zero: nothing changes until trained
        torch.testing.assert_close(
            trainer.model.eval()(stack([s], patch, ref)), text_only.eval()(stack([s], patch, ref))
        )
    trainer.run()  # and it trains on the layouts of the cache
    assert trainer.model.layout_embed.weight.abs().sum() > 0


def test_init_rejects_another_architecture(tmp_path):
    _world_cache(tmp_path)
    DiT(replace(DIT_PRESETS["tiny"], dim=32)).save_pretrained(tmp_path / "other")
    cfg = make_config("tiny", data=str(tmp_path), out=str(tmp_path / "run"),
                      init=str(tmp_path / "other"))  # fmt: skip
    with pytest.raises(ValueError, match="dim"):
        DiTTrainer(cfg)


def _tiny_layout_config(kind_frames: int) -> DiTConfig:
    return replace(
        DIT_PRESETS["tiny"], layout_channels=layout_channels(4, kind_frames), layout_frames=4,
        layout_kind_frames=kind_frames,
    )  # fmt: skip


def test_init_spreads_averaged_kinds_to_per_frame_ones(tmp_path):
    # A model reading averaged colour and shape channels, started from in a format with one
    # channel per pixel frame, gives the same outputs on the same scene (then learns from there).
    torch.manual_seed(0)
    averaged = DiT(_tiny_layout_config(1))
    with torch.no_grad():
        for p in averaged.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    averaged.save_pretrained(tmp_path / "averaged")
    per_frame = DiT(_tiny_layout_config(4))
    _init_from(per_frame, str(tmp_path / "averaged"))
    track = box_track(render_clip(seed=5, width=32, height=32, fps=8.0, num_frames=5).annotation)
    s = _sample((2, 8, 8), layout=False, seed=1)
    patch, ref = averaged.config.patch_size, averaged.config.ref_fps
    outs = []
    for model in (averaged, per_frame):
        lay = layout_map(track, (2, 8, 8), 8.0, 4, **model.config.layout_format)
        with torch.no_grad():
            sample = Sample(s.latent, s.t, s.fps, s.text, lay)
            outs.append(model.eval()(stack([sample], patch, ref)))
    torch.testing.assert_close(outs[1], outs[0], atol=1e-5, rtol=1e-4)
    one_frame = replace(DIT_PRESETS["tiny"], layout_channels=layout_channels(1, 4),
                        layout_frames=1, layout_kind_frames=4)  # fmt: skip
    with pytest.raises(ValueError, match="per-frame"):
        _init_from(DiT(one_frame), str(tmp_path / "averaged"))


def test_object_weight_counts_the_tokens_objects_cover(tmp_path):
    # The box covers latent cell (row 1, col 2) of a 4x8 grid; the tiny model's 2x2 patches
    # make a 2x4 token grid, and only token (0, 1) holds that cell.
    track = box_track(_annotation([(10, 5, 15, 10)]))
    cover = token_cover(layout_map(track, (1, 4, 8), 8.0, 4), DIT_PRESETS["tiny"])
    assert cover.tolist() == [0, 1, 0, 0, 0, 0, 0, 0]
    data = _world_cache(tmp_path)
    losses = []
    for weight in (0.0, 4.0):
        cfg = make_config("tiny", data=str(tmp_path), out=str(tmp_path / f"run{weight}"),
                          object_weight=weight)  # fmt: skip
        trainer = DiTTrainer(cfg)
        with torch.no_grad():
            losses.append(float(trainer.loss([0], step=0)))
    assert data.layout(0)[1].sum() > 0 and losses[0] != pytest.approx(losses[1], rel=1e-4)
