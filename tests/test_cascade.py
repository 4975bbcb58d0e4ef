"""The cascade: resampling between stages, exact training pairs, refiners and their commands."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from sorakit.cascade import downsample, refined_shape, refiner_input, upsample_video
from sorakit.cascade.motion import midpoints
from sorakit.cascade.refine import run_refiner
from sorakit.cascade.resample import training_low
from sorakit.cascade.stages import Canvas, base_canvas
from sorakit.cli.main import app
from sorakit.data.buckets import BucketConfig
from sorakit.data.dataset import VideoDataset
from sorakit.data.layout import box_track, layout_map
from sorakit.data.manifest import read_manifest
from sorakit.data.synth import SynthConfig, iter_clips
from sorakit.data.transforms import to_model_tensor
from sorakit.models.dit import DIT_PRESETS, DiT
from sorakit.models.text import TextEncoder
from sorakit.models.tokens import Sample, pack, stack, to_latents
from sorakit.models.vae import VAE_PRESETS, CausalVAE
from sorakit.pipeline import GenerationError, GenerationRequest, PipelineConfig, TextToVideoPipeline
from sorakit.pipeline.modes import refine_stage
from sorakit.planner import make_plan, parse
from sorakit.train.dit import DiTTrainer, make_config, make_training_sample, pool_space
from sorakit.train.latents import LatentDataset, preprocess
from sorakit.world.clip import render_clip


def test_temporal_upsampling_keeps_the_frames_and_puts_midpoints_between():
    video = torch.rand(2, 3, 3, 8, 12) * 2 - 1
    up = upsample_video(video, "temporal")
    assert up.shape == (2, 3, 5, 8, 12)
    torch.testing.assert_close(up[:, :, ::2], video)  # the frames on the even places
    mid = midpoints(video[1, :, 1][None], video[1, :, 2][None])[0]
    torch.testing.assert_close(up[1, :, 3], mid)  # each clip's own pair, in order
    flat = torch.full((1, 3, 2, 4, 6), 0.25)
    torch.testing.assert_close(upsample_video(flat, "spatial"), torch.full((1, 3, 2, 8, 12), 0.25))


@pytest.mark.parametrize("kind", ["spatial", "temporal"])
def test_refiner_input_lands_on_the_refined_grid(kind):
    """The low clip's own latent grid, refined, is the grid of what the refiner reads."""
    vae = CausalVAE(VAE_PRESETS["tiny"]).eval()
    low = torch.rand(1, 3, 5, 8, 12) * 2 - 1
    base = vae.encode(low).shape[2:]
    assert refiner_input(vae, low, kind).shape[2:] == refined_shape(kind, tuple(base))


def test_world_pairs_are_the_same_scene_at_half_size_and_rate():
    hi = render_clip(seed=3, width=32, height=24, fps=16.0, num_frames=9)
    video = to_model_tensor(hi.frames)
    world = {"seed": 3, "split": "train", "annotation": "clip.json"}
    small = training_low(video, "spatial", 16.0, world)
    truth = to_model_tensor(render_clip(seed=3, width=16, height=12, fps=16.0, num_frames=9).frames)
    torch.testing.assert_close(small, truth)  # rendered again: exact
    slow = training_low(video, "temporal", 16.0, world)
    half_rate = render_clip(seed=3, width=32, height=24, fps=8.0, num_frames=5).frames
    torch.testing.assert_close(slow, to_model_tensor(half_rate))  # every other frame: exact
    averaged = downsample(video[None], "spatial")[0]  # real video: 2x2 area average
    assert averaged.shape == truth.shape and (averaged - truth).abs().mean() < 0.01


def _refiner(seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    model = DiT(DIT_PRESETS["tiny-refiner"])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def test_refiner_reads_its_base_and_packs_like_alone():
    model = _refiner()
    patch, ref = model.config.patch_size, model.config.ref_fps
    g = torch.Generator().manual_seed(0)

    def sample(shape, aug):
        lat, cond = torch.randn(4, *shape, generator=g), torch.randn(4, *shape, generator=g)
        return Sample(lat, torch.tensor(0.5), 8.0, torch.randn(3, 384, generator=g), None,
                      cond, aug)  # fmt: skip

    a, b = sample((2, 4, 4), 0.1), sample((1, 2, 6), 0.4)
    with torch.no_grad():
        together = to_latents(pk := pack([a, b], patch, ref), model(pk), patch)
        for s, out in zip([a, b], together, strict=True):
            alone = stack([s], patch, ref)
            torch.testing.assert_close(out, to_latents(alone, model(alone), patch)[0],
                                       atol=1e-5, rtol=1e-4)  # fmt: skip
        other = replace(a, cond=a.cond + 1)
        assert not torch.allclose(model(stack([other], patch, ref)), model(stack([a], patch, ref)))
        with pytest.raises(ValueError, match="base latent"):
            model(stack([replace(a, cond=None)], patch, ref))


def test_refiner_strength_starts_from_its_input():
    model = _refiner()
    g = torch.Generator().manual_seed(0)
    cond = torch.randn(1, model.config.in_channels, 2, 4, 4, generator=g)
    texts = [torch.randn(3, 384, generator=g)]
    near = run_refiner(model, cond, texts, [], 8.0, steps=2, aug=0.0, strength=1e-3)
    far = run_refiner(model, cond, texts, [], 8.0, steps=2, aug=0.0)
    assert (near - cond).abs().max() < 0.02 < 0.5 < (far - cond).abs().mean()


@pytest.mark.parametrize(
    "options",
    [{"refiner_strength": {"colour": 0.5}}, {"refiner_strength": {"spatial": 0.0}},
     {"refiner_strength": {"temporal": 1.5}}, {"refiner_aug": {"spatial": 1.0}},
     {"refiner_aug": {"temporal": -0.1}}, {"refiner_aug": {"size": 0.2}}],
)  # fmt: skip
def test_refiner_sampling_options_are_checked(options):
    with pytest.raises(ValueError, match="refiner"):
        PipelineConfig(**options)


@pytest.fixture(scope="module")
def world_clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    cfg = SynthConfig(out=folder, num=6, sizes=((16, 16),), fps=(8.0,), frames=(9,), seed=1,
                      workers=1)  # fmt: skip
    rows = [row for row, _ in iter_clips(cfg)]
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


@pytest.mark.parametrize("kind", ["spatial", "temporal"])
def test_refiner_cache_and_training(world_clips, tmp_path, kind):
    vae = CausalVAE(VAE_PRESETS["tiny"])
    encoder = TextEncoder.from_pretrained("minilm")
    meta = preprocess(world_clips, tmp_path / "cache", vae, encoder,
                      BucketConfig.preset("world64"), refiner=kind)  # fmt: skip
    assert meta["refiner"] == kind and meta["clips"] == 6
    data = LatentDataset(tmp_path / "cache")
    latent, low = data[0][0], data.low(0)
    assert low.shape == latent.shape  # the refiner's input lies on the clip's own grid
    # ... and it is what the pipeline's refiner reads of the clip's low version
    rows, _ = read_manifest(world_clips)
    row = next(r for r in rows if str(r.path) == data.rows[0].source)
    clip = VideoDataset([row], data.rows[0].fps, buckets=BucketConfig.preset("world64"))[0]
    small = training_low(clip["video"], kind, data.rows[0].fps, row.extra)
    expected = refiner_input(vae, small[None], kind)[0]
    torch.testing.assert_close(low.float(), expected, atol=2e-3, rtol=2e-3)  # stored in fp16
    cfg = make_config("tiny-refiner", data=str(tmp_path / "cache"), out=str(tmp_path / "run"),
                      steps=4, checkpoint_every=4)  # fmt: skip
    logs = DiTTrainer(cfg).run().logs
    assert len(logs) == 4 and all(np.isfinite(x.loss) for x in logs)
    losses = []  # a refiner has no layout input, yet weighs its clips' objects when asked
    for weight in (0.0, 4.0):
        c = make_config("tiny-refiner", data=str(tmp_path / "cache"),
                        out=str(tmp_path / f"w{weight}"), object_weight=weight)  # fmt: skip
        with torch.no_grad():
            losses.append(float(DiTTrainer(c).loss([0], step=0)))
    assert losses[0] != pytest.approx(losses[1], rel=1e-4)
    with pytest.raises(ValueError, match="pairs"):  # a plain cache cannot train a refiner
        plain = tmp_path / "plain"
        preprocess(world_clips, plain, vae, encoder, BucketConfig.preset("world64"))
        DiTTrainer(make_config("tiny-refiner", data=str(plain), out=str(tmp_path / "x")))
    # A cache from before a change to refiner_input (temporal: blends; before that, either
    # kind: latents upsampled, unrecorded) would train the refiner on inputs it never gets.
    meta_path = tmp_path / "cache" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["refiner_input"] = {"spatial": None, "temporal": "upsampled-pixels"}[kind]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=f"preprocess --refiner {kind} again"):
        DiTTrainer(make_config("tiny-refiner", data=str(meta_path.parent), out=str(tmp_path / "y")))


def test_a_refiner_can_read_the_layout_too(world_clips, tmp_path):
    vae, encoder = CausalVAE(VAE_PRESETS["tiny"]), TextEncoder.from_pretrained("minilm")
    preprocess(world_clips, tmp_path / "cache", vae, encoder, BucketConfig.preset("world64"),
               refiner="spatial")  # fmt: skip
    losses = []
    for dropout in (0.0, 1.0):
        c = make_config(
            "tiny-refiner",
            model="tiny-refiner-layout",
            layout_dropout=dropout,
            data=str(tmp_path / "cache"),
            out=str(tmp_path / f"d{dropout}"),
        )
        trainer = DiTTrainer(c)
        torch.manual_seed(0)
        with torch.no_grad():  # the output and layout input start at zero: give them a say
            for p in trainer.model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
            losses.append(float(trainer.loss([0, 1], step=0)))
    assert np.isfinite(losses).all() and losses[0] != pytest.approx(losses[1], rel=1e-4)


def test_pooling_keeps_colours_and_places_but_not_detail():
    latent = torch.zeros(2, 3, 8, 10)
    latent[:, :, :4, :4] = 1.0  # a flat square in one 4x4 block
    latent[:, :, 4:, 4:8] = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(2, 2)  # fine detail
    pooled = pool_space(latent, 4)
    assert pooled.shape == latent.shape
    assert pooled[:, :, 1, 1].eq(1.0).all()  # inside the square: its colour stays
    assert pooled[:, :, 4:, 4:8].abs().max() < 0.3  # the checkerboard averages away
    torch.testing.assert_close(pool_space(latent, 1), latent)


def test_refiner_inputs_are_pooled_as_often_as_asked_where_the_layout_stays(world_clips, tmp_path):
    latent, low = torch.randn(4, 2, 8, 8), torch.randn(4, 2, 8, 8)
    text = torch.zeros(3, 384)
    model_cfg = DIT_PRESETS["tiny-refiner-layout"]
    layout = torch.rand(model_cfg.layout_channels, 2, 8, 8)

    def cond(pool: float, seed: int = 0, dropout: float = 0.0) -> torch.Tensor:
        cfg = make_config("tiny-refiner", data="d", out="o", input_pool=pool, aug_max=0.0,
                          layout_dropout=dropout)  # fmt: skip
        g = torch.Generator().manual_seed(seed)
        s, _, _ = make_training_sample(latent, text, text, 4.0, cfg, model_cfg, g, layout, low)
        return s.cond

    torch.testing.assert_close(cond(0.0), low)  # off: the exact low version
    torch.testing.assert_close(cond(1.0), pool_space(low, 4))
    pooled = [torch.equal(cond(0.5, seed), pool_space(low, 4)) for seed in range(40)]
    assert 8 < sum(pooled) < 32
    # Without its layout nothing could say what the blur took: the input stays exact.
    torch.testing.assert_close(cond(1.0, dropout=1.0), low)
    with pytest.raises(ValueError, match="input pool"):
        make_config("tiny-refiner", data="d", out="o", input_pool=1.5)
    vae, encoder = CausalVAE(VAE_PRESETS["tiny"]), TextEncoder.from_pretrained("minilm")
    preprocess(world_clips, tmp_path / "cache", vae, encoder, BucketConfig.preset("world64"),
               refiner="spatial")  # fmt: skip
    with pytest.raises(ValueError, match="not a refiner that reads the layout"):
        c = make_config("tiny-refiner", data=str(tmp_path / "cache"), out="o", input_pool=0.5)
        DiTTrainer(c)


@pytest.fixture(scope="module")
def cascade_folder(tmp_path_factory):
    torch.manual_seed(0)
    base = DiT(DIT_PRESETS["tiny"])
    with torch.no_grad():
        for p in base.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    config = PipelineConfig(width=16, height=16, frames=9, fps=4.0, steps=2, refiner_steps=2)
    pipe = TextToVideoPipeline(
        CausalVAE(VAE_PRESETS["tiny"]),
        base,
        TextEncoder.from_pretrained("minilm"),
        config,
        refiners={"spatial": _refiner(1), "temporal": _refiner(2)},
    )
    folder = tmp_path_factory.mktemp("cascade")
    pipe.save_pretrained(folder)
    return folder


def test_refiners_load_when_first_used_and_a_damaged_one_fails_then(cascade_folder, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(cascade_folder, copy)
    weights = copy / "spatial_refiner" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    pipe = TextToVideoPipeline.from_pretrained(copy)  # the damage is not read yet
    assert set(pipe.refiners) == {"spatial", "temporal"} and pipe.refiners.loaded() == []
    base = pipe("a red ball falls", planning=False)  # the base's own size: no refiner
    assert base.provenance.cascade == [] and pipe.refiners.loaded() == []
    temporal = pipe.refiners["temporal"]
    assert pipe.refiners.loaded() == [temporal] and temporal in pipe.models()
    with pytest.raises(GenerationError, match="sha256"):
        pipe("a red ball falls", planning=False, width=32, height=32)


def test_cascade_runs_base_then_refiners_and_each_can_be_turned_off(cascade_folder):
    pipe = TextToVideoPipeline.from_pretrained(cascade_folder)
    assert set(pipe.refiners) == {"spatial", "temporal"}
    final = dict(width=32, height=32, fps=8.0, frames=9)  # twice the base's size and rate
    s = pipe.settings(GenerationRequest(prompt="a red ball falls", **final))
    assert pipe.cascade_stages(s) == ["temporal", "spatial"]
    base = base_canvas(Canvas(32, 32, 9, 8.0), ["temporal", "spatial"], pipe.vae.temporal_factor)
    assert base == Canvas(16, 16, 5, 4.0)
    video = pipe("a red ball falls", planning=False, **final)
    assert video.frames.shape == (9, 32, 32, 3) and video.fps == 8.0
    assert video.provenance.cascade == ["temporal", "spatial"]
    off = dict(spatial_refiner=False, temporal_refiner=False)
    direct = pipe("a red ball falls", planning=False, **off, **final)
    assert direct.frames.shape == (9, 32, 32, 3) and direct.provenance.cascade == []
    only_time = pipe("a red ball falls", planning=False, spatial_refiner=False, **final)
    assert only_time.provenance.cascade == ["temporal"]
    native = pipe("a red ball falls", planning=False)  # the base's own size and rate: no stage
    assert native.provenance.cascade == [] and native.frames.shape == (9, 16, 16, 3)
    image = pipe("a red ball", planning=False, frames=1, width=32, height=32)
    assert image.provenance.cascade == ["spatial"]


def test_an_evaluation_is_labelled_cascade_only_where_the_cascade_runs(cascade_folder):
    from sorakit.eval.generators import GroundTruth, PipelineGenerator
    from sorakit.eval.run import run_name
    from sorakit.eval.suite import SuiteConfig

    gen = PipelineGenerator(TextToVideoPipeline.from_pretrained(cascade_folder), label="m")
    assert gen.name.endswith("+cascade")  # the generator's own setting
    assert not gen.name_for(SuiteConfig("base", 16, 16, 4.0, 9, 1)).endswith("+cascade")
    assert gen.name_for(SuiteConfig("twice", 32, 32, 8.0, 9, 1)) == gen.name
    off = PipelineGenerator(gen.pipe, label="m", refiners=False)
    assert not off.name_for(SuiteConfig("twice", 32, 32, 8.0, 9, 1)).endswith("+cascade")
    assert run_name(gen, SuiteConfig("base", 16, 16, 4.0, 9, 1)) == "model:m+planning"
    assert run_name(GroundTruth(), SuiteConfig("base", 16, 16, 4.0, 9, 1)) == GroundTruth().name


def test_a_layout_refiner_follows_the_plan_on_its_own_grid(cascade_folder, monkeypatch):
    import sorakit.cascade.stages as stages_module

    pipe = TextToVideoPipeline.from_pretrained(cascade_folder)
    torch.manual_seed(3)
    refiner = DiT(DIT_PRESETS["tiny-refiner-layout"]).eval()
    with torch.no_grad():
        for p in refiner.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    pipe.refiners["spatial"] = refiner
    pipe.config = replace(pipe.config, refiner_aug={"spatial": 0.4})
    seen, augs, real = [], [], stages_module.run_refiner

    def spy(model, cond, *args, layout=None, **kw):
        seen.append((cond.shape, layout))
        augs.append(kw["aug"])
        return real(model, cond, *args, layout=layout, **kw)

    monkeypatch.setattr(stages_module, "run_refiner", spy)
    final = dict(width=32, height=32, fps=8.0, frames=9)
    video = pipe("a red ball falls", seed=1, **final)
    assert video.plan["scene"]["width"] == 32  # planned once, at the final size and rate
    (_, temporal_layout), (shape, spatial_layout) = seen
    assert temporal_layout is None  # that refiner reads no layout
    assert augs == [0.1, 0.4]  # the default input noise, and the model's own for spatial
    track = box_track(video.plan)
    expected = layout_map(track, shape[2:], 8.0, pipe.vae.temporal_factor,
                          **refiner.config.layout_format)  # fmt: skip
    torch.testing.assert_close(spatial_layout, expected[None])
    assert spatial_layout[:, 1:].sum() > 0  # the ball is on the map
    seen.clear()
    pipe("a red ball falls", seed=1, planning=False, **final)
    assert seen[1][1] is None  # text-only: nothing to follow


def test_a_text_only_refiner_runs_where_there_is_no_plan(cascade_folder, tmp_path, monkeypatch):
    """A model may hold, beside a refiner that reads plans, one for generation without a plan;
    `build-model` puts it in, loading keeps it, and the stage picks by whether there is a plan."""
    import sorakit.cascade.stages as stages_module

    runner = CliRunner()
    parts = ["build-model", "--vae", str(cascade_folder / "vae"),
             "--transformer", str(cascade_folder / "transformer"), "--width", "16",
             "--height", "16", "--fps", "4", "--steps", "2"]  # fmt: skip
    text_only = ["--temporal-refiner-text-only", str(cascade_folder / "spatial_refiner")]
    alone = runner.invoke(app, [*parts, *text_only, "--out", str(tmp_path / "bad")])
    assert alone.exit_code != 0 and "needs a temporal refiner" in alone.output
    both = ["--temporal-refiner", str(cascade_folder / "temporal_refiner"), *text_only]
    ok = runner.invoke(app, [*parts, *both, "--out", str(tmp_path / "m")])
    assert ok.exit_code == 0, ok.output
    pipe = TextToVideoPipeline.from_pretrained(tmp_path / "m")
    assert set(pipe.refiners) == set(pipe.text_only_refiners) == {"temporal"}
    seen, real = [], stages_module.run_refiner
    monkeypatch.setattr(
        stages_module, "run_refiner", lambda m, *a, **k: seen.append(m) or real(m, *a, **k)
    )
    final = dict(width=16, height=16, fps=8.0, frames=9)
    text = pipe("a red ball falls", planning=False, **final)
    plan = make_plan(parse("a red ball falls"), 16, 16, 8.0, 9)
    planned = pipe("a red ball falls", plan=plan, **final)
    assert seen == [pipe.text_only_refiners["temporal"], pipe.refiners["temporal"]]
    assert text.provenance.text_only_refiners == ["temporal"]
    assert planned.provenance.text_only_refiners == []
    assert seen[0] is not seen[1]


def test_the_models_refiner_strength_reaches_its_stage(cascade_folder, tmp_path):
    pipe = TextToVideoPipeline.from_pretrained(cascade_folder)
    pipe.config = replace(pipe.config, refiner_strength={"spatial": 1e-3})
    pipe.save_pretrained(tmp_path / "m")
    pipe = TextToVideoPipeline.from_pretrained(tmp_path / "m")
    video = to_model_tensor(render_clip(seed=3, width=16, height=16, fps=4.0, num_frames=5).frames)
    request = GenerationRequest(prompt="a red ball", width=32, height=32, frames=5, fps=4.0)
    s = pipe.settings(request)
    cond = refiner_input(pipe.vae, video[None], "spatial")
    near = refine_stage(pipe, video[None], "spatial", s, None, None)
    assert (near - cond).abs().max() < 0.02 * cond.abs().max()


def test_upscale_and_interpolate_commands(cascade_folder, tmp_path):
    clip = render_clip(seed=2, width=16, height=16, fps=4.0, num_frames=5)
    from sorakit.data.video import read_video, write_video

    write_video(tmp_path / "in.mp4", clip.frames, 4.0)
    runner = CliRunner()
    for command, shape, fps in (("upscale", (5, 32, 32), 4.0), ("interpolate", (9, 16, 16), 8.0)):
        out = tmp_path / f"{command}.mp4"
        result = runner.invoke(
            app,
            [
                command,
                str(tmp_path / "in.mp4"),
                "--out",
                str(out),
                "--model",
                str(cascade_folder),
                "--prompt",
                clip.caption,
            ],
        )
        assert result.exit_code == 0, result.output
        video = read_video(out)
        assert video.frames.shape[:3] == shape and video.fps == pytest.approx(fps)


def test_interpolate_follows_a_plan_with_the_shipped_model(cascade_folder, tmp_path):
    """`interpolate --plan` hands a refiner that reads plans the output's layout (here the
    world annotation of the clip at twice the rate); a refiner that cannot read one, or a file
    that is not a plan, is one clear error."""
    from sorakit.data.video import read_video, write_video

    low = render_clip(seed=5, width=32, height=32, fps=8.0, num_frames=9)
    high = render_clip(seed=5, width=32, height=32, fps=16.0, num_frames=17)
    write_video(tmp_path / "in.mp4", low.frames, 8.0)
    (tmp_path / "plan.json").write_text(json.dumps(high.annotation))
    (tmp_path / "bad.json").write_text("{}")
    runner = CliRunner()
    args = ["interpolate", str(tmp_path / "in.mp4"), "--prompt", low.caption]
    ok = runner.invoke(app, [*args, "--plan", str(tmp_path / "plan.json"),
                             "--out", str(tmp_path / "out.mp4")])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    planned = read_video(tmp_path / "out.mp4").frames
    assert planned.shape[:3] == (17, 32, 32)
    plain = runner.invoke(app, [*args, "--out", str(tmp_path / "plain.mp4")])
    assert plain.exit_code == 0, plain.output
    assert (read_video(tmp_path / "plain.mp4").frames != planned).any()  # another refiner ran
    bad = runner.invoke(app, [*args, "--plan", str(tmp_path / "bad.json"), "--out", "x.mp4"])
    assert bad.exit_code != 0 and "scene.width" in bad.output
    cannot = runner.invoke(app, [*args, "--plan", str(tmp_path / "plan.json"), "--model",
                                 str(cascade_folder), "--out", "x.mp4"])  # fmt: skip
    assert cannot.exit_code != 0 and "does not read plans" in cannot.output


def test_build_model_sets_sampling_defaults(cascade_folder, tmp_path):
    runner = CliRunner()
    parts = ["build-model", "--vae", str(cascade_folder / "vae"),
             "--transformer", str(cascade_folder / "transformer"),
             "--spatial-refiner", str(cascade_folder / "spatial_refiner")]  # fmt: skip
    strength = ["--refiner-strength", "spatial=0.2", "--refiner-aug", "spatial=0.5"]
    ok = runner.invoke(
        app, [*parts, "--out", str(tmp_path / "m"), *strength, "--shape-contrast", "6",
              "--shape-contrast-interval", "0,0.6"],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    config = json.loads((tmp_path / "m" / "pipeline.json").read_text())
    assert config["refiner_strength"] == {"spatial": 0.2}
    assert config["refiner_aug"] == {"spatial": 0.5}
    assert config["shape_contrast"] == 6.0
    loaded = TextToVideoPipeline.from_pretrained(tmp_path / "m").config
    assert loaded.shape_contrast == 6.0 and loaded.shape_contrast_interval == (0.0, 0.6)
    bad = runner.invoke(
        app, [*parts, "--out", str(tmp_path / "y"), "--shape-contrast-interval", "1,0"]
    )
    assert bad.exit_code == 2 and "--shape-contrast-interval" in bad.output, bad.output
    for bad in ("spatial", "spatial=2", "sharpen=0.5"):
        strength = ["--refiner-strength", bad]
        result = runner.invoke(app, [*parts, "--out", str(tmp_path / "x"), *strength])
        assert result.exit_code == 2 and "refiner" in result.output, result.output
