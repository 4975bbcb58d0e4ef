"""The text-to-video pipeline and `sorakit generate`, on a tiny random model."""

import json

import av
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from sorakit.cli.main import app
from sorakit.models.dit import DIT_PRESETS, DiT
from sorakit.models.text import TextEncoder
from sorakit.models.vae import VAE_PRESETS, CausalVAE
from sorakit.pipeline import (
    GenerationError,
    GenerationRequest,
    PipelineConfig,
    TextToVideoPipeline,
)
from sorakit.pipeline.blocks import decode, encode_frames, encode_text
from sorakit.pipeline.request import unknown_words

FAST = dict(steps=2, guidance=2.0)


def _settings(pipe):
    return pipe.settings(GenerationRequest(prompt="x"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    torch.manual_seed(0)
    vae = CausalVAE(VAE_PRESETS["tiny"])
    dit = DiT(DIT_PRESETS["tiny"])
    with torch.no_grad():  # a random, not zero-initialised, transformer: outputs vary
        for p in dit.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    config = PipelineConfig(width=16, height=16, frames=9, vocabulary=("a", "red", "ball"))
    pipe = TextToVideoPipeline(vae, dit, TextEncoder.from_pretrained("minilm"), config)
    path = tmp_path_factory.mktemp("model")
    pipe.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pipe(folder):
    return TextToVideoPipeline.from_pretrained(folder)


def test_text_to_video_and_image(pipe):
    video = pipe("a red ball", **FAST)
    assert video.frames.shape == (9, 16, 16, 3) and video.frames.dtype == np.uint8
    assert video.provenance.mode == "text-to-video"
    image = pipe("a red ball", frames=1, width=24, height=16, **FAST)
    assert image.frames.shape == (1, 16, 24, 3)
    assert image.provenance.mode == "text-to-image"


def test_seeds_reproduce(pipe):
    a = pipe("a red ball", seed=3, **FAST).frames
    assert np.array_equal(a, pipe("a red ball", seed=3, **FAST).frames)
    assert not np.array_equal(a, pipe("a red ball", seed=4, **FAST).frames)


def test_image_to_video_keeps_the_first_frame(pipe):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    video = pipe("a red ball", image=image, **FAST)
    # The decoder is causal: frame 0 depends only on latent frame 0, which is held fixed.
    expected = decode(pipe.vae, encode_frames(pipe.vae, image[None], _settings(pipe), None))[0]
    assert np.array_equal(video.frames[0], expected)


def test_extend_forward_keeps_the_input(pipe):
    clip = np.random.default_rng(1).integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    video = pipe("a red ball", video=clip, video_fps=8.0, extend="forward", frames=9, **FAST)
    assert video.frames.shape[0] == 5 + 8
    recon = decode(pipe.vae, encode_frames(pipe.vae, clip, _settings(pipe), 8.0))
    assert np.array_equal(video.frames[:5], recon)


def test_other_modes_run(pipe):
    rng = np.random.default_rng(2)
    a = rng.integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    b = rng.integers(0, 255, (9, 16, 16, 3), dtype=np.uint8)
    back = pipe("x", video=b, video_fps=8.0, extend="backward", frames=5, **FAST)
    assert back.frames.shape[0] == 5 + 8  # 5 new frames (1 + 4) before b's last 8
    edit = pipe("x", video=b, video_fps=8.0, strength=0.5, **FAST)
    assert edit.frames.shape == b.shape
    joined = pipe("x", connect=((a, 8.0), (b, 8.0)), frames=9, **FAST)
    assert joined.frames.shape[0] == 5 + 8 + 8  # a, 8 new frames, the last 8 of b
    loop = pipe("x", loop=True, frames=9, **FAST)
    assert loop.frames.shape[0] == 9 and loop.provenance.mode == "loop"


@pytest.mark.parametrize(
    "options,message",
    [
        (dict(width=20), "multiple of 8"),
        (dict(sampler="ddim"), "sampler"),
        (dict(frames=6), r"1 \+ 4k"),
        (dict(steps=0), "steps"),
        (dict(fps=-1.0), "fps"),
        (dict(guidance_interval=(0.7, 0.2)), "guidance interval"),
    ],
)
def test_bad_requests(pipe, options, message):
    with pytest.raises(GenerationError, match=message):
        pipe("a red ball", **options)
    with pytest.raises(GenerationError, match="empty"):
        pipe("  ")


def test_save_formats_and_provenance(pipe, tmp_path):
    video = pipe("a red ball", seed=5, **FAST)
    (mp4,) = video.save(tmp_path / "v.mp4")
    with av.open(str(mp4)) as container:
        record = json.loads(container.metadata["comment"])
        assert container.streams.video[0].frames == 9
    assert record["prompt"] == "a red ball" and record["seed"] == 5
    assert json.loads((tmp_path / "v.json").read_text()) == record
    video.save(tmp_path / "v.gif")
    written = video.save(tmp_path / "f.png")
    assert sorted(tmp_path.glob("f_*.png")) == written and len(written) == 9
    with pytest.raises(GenerationError, match="unknown output"):
        video.save(tmp_path / "v.avi")


def test_guidance_interval_from_the_model_planned_or_not_and_per_request(folder, tmp_path):
    base = TextToVideoPipeline.from_pretrained(folder)
    assert base.config.guidance_interval == (0.0, 1.0)  # older model folders: everywhere
    assert base.config.plan_guidance_interval is None
    config = json.loads((folder / "pipeline.json").read_text())
    limited = tmp_path / "limited"
    TextToVideoPipeline(
        base.vae, base.transformer, base.text_encoder,
        PipelineConfig(**{**config, "vocabulary": (), "plan_guidance_interval": (0.0, 0.5)}),
    ).save_pretrained(limited)  # fmt: skip
    pipe = TextToVideoPipeline.from_pretrained(limited)
    assert pipe.config.plan_guidance_interval == (0.0, 0.5)
    prompt = "a red ball falls"
    text_only = pipe(prompt, seed=1, planning=False, **FAST)
    assert text_only.provenance.guidance_interval == [0.0, 1.0]
    assert np.array_equal(text_only.frames, base(prompt, seed=1, planning=False, **FAST).frames)
    planned = pipe(prompt, seed=1, **FAST)
    assert planned.provenance.planned and planned.provenance.guidance_interval == [0.0, 0.5]
    asked = base(prompt, seed=1, guidance_interval=(0.0, 0.5), **FAST)  # the request's own
    assert np.array_equal(planned.frames, asked.frames)
    assert not np.array_equal(planned.frames, base(prompt, seed=1, **FAST).frames)


def test_a_request_rejects_unknown_fields_by_name(pipe):
    with pytest.raises(GenerationError, match="unknown request field 'stpes' .*'steps'"):
        pipe("a red ball", stpes=5)
    with pytest.raises(TypeError):
        GenerationRequest(prompt="a red ball", stpes=5)


@pytest.mark.parametrize(
    "fields,message",
    [
        (dict(image="I", plan="P"), "image-to-video cannot use one"),
        (dict(video="V", extend="forward", plan="P"), "extending cannot use one"),
        (dict(video="V", strength=0.5, plan="P"), "editing cannot use one"),
        (dict(loop=True, plan="P"), "a loop cannot use one"),
        (dict(connect=(("V", 8.0), ("V", 8.0)), plan="P"), "connecting cannot use one"),
        (dict(plan="P", planning=False), "planning off"),
        (dict(video="V"), "needs extend or strength"),
        (dict(extend="forward"), "extending needs an input video"),
        (dict(strength=0.5), "editing needs an input video"),
        (dict(video="V", extend="sideways"), "forward or backward"),
        (dict(video="V", strength=1.5), "strength must be in"),
        (dict(video_fps=8.0), "video_fps"),
        (dict(image="I", video="V", extend="forward"), "choose one mode"),
    ],
)
def test_a_request_rejects_contradictions(fields, message):
    # A plan that a mode cannot use used to be dropped without a word.
    stand_in = {"I": np.zeros((16, 16, 3), np.uint8), "V": np.zeros((5, 16, 16, 3), np.uint8),
                "P": {"scene": {}}}  # fmt: skip

    def real(v):
        if isinstance(v, tuple):
            return tuple(real(x) for x in v)
        return stand_in.get(v, v) if isinstance(v, str) else v

    with pytest.raises(GenerationError, match=message):
        GenerationRequest(prompt="a red ball", **{k: real(v) for k, v in fields.items()})


def test_provenance_names_the_weights_and_the_version(folder, pipe):
    import hashlib

    import sorakit

    record = pipe("a red ball", **FAST).provenance
    digest = hashlib.sha256((folder / "transformer" / "model.safetensors").read_bytes())
    assert record.weights_sha256["transformer"] == digest.hexdigest()
    assert set(record.weights_sha256) == {"vae", "transformer"}
    assert record.sorakit_version == sorakit.__version__
    assert "strength" not in record.to_dict()  # fields a mode does not use are left out


def test_pipeline_json_is_versioned_and_old_files_still_load(folder, tmp_path):
    import shutil

    raw = json.loads((folder / "pipeline.json").read_text())
    assert raw["schema_version"] == 2
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    del raw["schema_version"]  # version 1: the same fields, unversioned
    (old / "pipeline.json").write_text(json.dumps(raw))
    assert TextToVideoPipeline.from_pretrained(old).config.schema_version == 2
    for bad, message in (
        ({**raw, "schema_version": 9}, "schema_version 9"),
        ({**raw, "stpes": 3}, "unknown fields stpes"),
        ([1, 2], "JSON object"),
    ):
        (old / "pipeline.json").write_text(json.dumps(bad))
        with pytest.raises(GenerationError, match=message):
            TextToVideoPipeline.from_pretrained(old)


def test_the_shipped_model_folder_is_current():
    from sorakit.pipeline import DEFAULT_MODEL
    from sorakit.pipeline.config import SCHEMA_VERSION

    raw = json.loads((DEFAULT_MODEL / "pipeline.json").read_text())
    assert raw["schema_version"] == SCHEMA_VERSION


def test_unknown_words(pipe):
    assert unknown_words("a red dragon", pipe.config.vocabulary) == ["dragon"]


runner = CliRunner()


def _run(*args):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def test_cli_generates(folder, tmp_path):
    out = tmp_path / "x.mp4"
    result = _run("generate", "a red dragon", "--out", str(out), "--model", str(folder),
                  "--steps", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.exists() and "dragon" in result.output  # the unknown-word warning


@pytest.mark.parametrize(
    "args",
    [
        ["", "--out", "x.mp4"],
        ["a ball", "--out", "x.mp4", "--width", "21"],
        ["a ball", "--out", "x.mp4", "--frames", "4"],
        ["a ball", "--out", "x.mp4", "--steps", "0"],
        ["a ball", "--out", "x.mp4", "--image", "missing.png"],
        ["a ball", "--out", "x.mp4", "--extend", "forward"],
        ["a ball", "--out", "x.mp4", "--guidance-interval", "0.5"],
        ["a ball", "--out", "x.mp4", "--shape-contrast", "-1"],
    ],
)
def test_cli_bad_input_is_one_clear_error(folder, tmp_path, args):
    args = [a if a != "x.mp4" else str(tmp_path / "x.mp4") for a in args]
    result = _run("generate", *args, "--model", str(folder))
    assert result.exit_code != 0
    assert "Error" in result.output or "error" in result.output


def test_cli_bad_model_folder(tmp_path):
    result = _run("generate", "a ball", "--out", str(tmp_path / "x.mp4"), "--model", str(tmp_path))
    assert result.exit_code != 0 and "cannot load the model" in result.output


class _CountingModel(torch.nn.Module):
    """A transformer that records how many samples each call evaluates."""

    def __init__(self, model: DiT):
        super().__init__()
        self.model, self.config, self.samples = model, model.config, []

    def forward(self, batch):
        self.samples.append(len(batch.grids))
        return self.model(batch)


def test_guidance_interval_guides_only_inside_it(pipe):
    from sorakit.diffusion.denoise import generate_latents

    model = _CountingModel(pipe.transformer)
    noise = torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    text = encode_text(pipe.text_encoder, ["a red ball"])
    null = encode_text(pipe.text_encoder, [""])

    def run(**kw):
        model.samples.clear()
        return generate_latents(model, noise, text, null, 8.0, steps=4, shift=1.0, **kw)

    everywhere = run(guidance=3.0)
    assert model.samples == [2, 2, 2, 2]
    torch.testing.assert_close(run(guidance=3.0, guidance_interval=(0.0, 1.0)), everywhere)
    limited = run(guidance=3.0, guidance_interval=(0.0, 0.6))  # times 1, 0.75, 0.5, 0.25
    assert model.samples == [1, 1, 2, 2]  # no unconditional pass at high noise
    assert not torch.allclose(limited, everywhere)
    never = run(guidance=3.0, guidance_interval=(0.0, 0.1))
    torch.testing.assert_close(never, run(guidance=1.0))  # the conditional velocity alone
    with pytest.raises(ValueError, match="guidance interval"):
        run(guidance=3.0, guidance_interval=(0.5, 0.5))


def test_shape_contrast_is_a_third_pass_pushing_by_the_layouts_difference(pipe):
    from sorakit.data.layout import box_track, contrast_track, layout_map
    from sorakit.diffusion.denoise import generate_latents
    from sorakit.planner import make_plan, parse

    model = _CountingModel(pipe.transformer)
    noise = torch.randn(2, 4, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    text = encode_text(pipe.text_encoder, ["a red ball", "a blue ball"])
    null = encode_text(pipe.text_encoder, ["", ""])
    tf = pipe.vae.temporal_factor
    track = box_track(make_plan(parse("a large red ball"), 16, 16, 8.0, 9, seed=0))
    layout = torch.stack([layout_map(track, (3, 4, 4), 8.0, tf)] * 2)
    swapped = torch.stack([layout_map(contrast_track(track, (4, 4)), (3, 4, 4), 8.0, tf)] * 2)
    assert not torch.equal(swapped, layout)

    def run(n=2, **kw):
        model.samples.clear()
        return generate_latents(model, noise[:n], text[:n], null[:n], 8.0, steps=4, shift=1.0,
                                guidance=3.0, layout=layout[:n], **kw)  # fmt: skip

    plain = run()
    assert model.samples == [4, 4, 4, 4]
    pushed = run(contrast_layout=swapped, contrast=2.0)
    assert model.samples == [6, 6, 6, 6]  # caption + contrast layout, beside the guidance passes
    assert not torch.allclose(pushed, plain)
    # The same layout as contrast differs in nothing, so nothing is pushed.
    torch.testing.assert_close(run(contrast_layout=layout, contrast=2.0), plain)
    torch.testing.assert_close(run(1, contrast_layout=swapped[:1], contrast=2.0), pushed[:1])
    torch.testing.assert_close(run(contrast_layout=swapped, contrast=0.0), plain)
    assert model.samples == [4, 4, 4, 4]  # scale 0: no third pass
    run(contrast_layout=swapped, contrast=2.0, contrast_interval=(0.0, 0.6))
    assert model.samples == [4, 4, 6, 6]  # times 1, 0.75, 0.5, 0.25: only inside its interval
    with pytest.raises(ValueError, match="interval"):
        run(contrast_layout=swapped, contrast=2.0, contrast_interval=(0.6, 0.6))
    with pytest.raises(ValueError, match="shape_contrast"):
        PipelineConfig(shape_contrast=-1.0)
    with pytest.raises(ValueError, match="interval"):
        PipelineConfig(shape_contrast_interval=(0.6, 0.6))
