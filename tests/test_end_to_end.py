"""The whole chain on tiny models: world clips -> preprocess -> train -> build-model -> generate
-> eval, through the command line."""

import json

import torch
from typer.testing import CliRunner

from sorakit.cli.main import app
from sorakit.eval.generators import make_generator
from sorakit.eval.suite import SUITES, build_continuation, build_suite
from sorakit.models.vae import VAE_PRESETS, CausalVAE
from sorakit.train.latents import LatentDataset

runner = CliRunner()


def _ok(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_world_to_video(tmp_path):
    _ok("data", "synth", "--out", tmp_path / "clips", "--num", 6, "--seed", 3,
        "--size", "64x64,64x48", "--fps", "8", "--frames", "1,9", "--workers", 1)  # fmt: skip
    torch.manual_seed(0)
    CausalVAE(VAE_PRESETS["tiny"]).save_pretrained(tmp_path / "vae")
    cache = tmp_path / "cache"
    args = ("preprocess", "--manifest", tmp_path / "clips" / "manifest.jsonl",
            "--vae", tmp_path / "vae", "--out", cache)  # fmt: skip
    _ok(*args)
    data = LatentDataset(cache)
    assert len(data) == 6 and data.meta["latent_channels"] == 4
    shapes = {row.shape for row in data.rows}
    assert shapes <= {(4, 1, 16, 16), (4, 3, 16, 16), (4, 1, 12, 16), (4, 3, 12, 16)}
    assert all(row.caption in data.text for row in data.rows) and "" in data.text
    before = (cache / "shard-00000.safetensors").stat().st_mtime_ns
    _ok(*args)  # a rerun finds the finished shard and leaves it alone
    assert (cache / "shard-00000.safetensors").stat().st_mtime_ns == before

    run = tmp_path / "run"
    staged = _ok("train", "--preset", "tiny", "--data", cache, "--out", run, "--steps", 4,
                 "--stop-after", 2)  # fmt: skip
    assert "stopped at step 2" in staged.output and not (run / "model").exists()
    _ok("train", "--preset", "tiny", "--data", cache, "--out", run, "--steps", 4)
    model = tmp_path / "model"
    _ok("build-model", "--vae", tmp_path / "vae", "--transformer", run / "model", "--out", model,
        "--width", 32, "--height", 32, "--frames", 5, "--steps", 2)  # fmt: skip
    out = tmp_path / "ball.mp4"
    result = _ok("generate", "a red ball falls", "--out", out, "--model", model)
    assert out.exists() and "never saw" not in result.output  # world words are known
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["frames"] == 5 and record["width"] == 32

    generator = make_generator(str(model), None, steps=2)
    item = build_suite(SUITES["quick"])[0]
    video = generator.generate(item)
    assert video.frames.shape == (item.num_frames, item.height, item.width, 3)
    cont = build_continuation(SUITES["quick"])[0]
    context = generator.generate(cont.item).frames[: cont.context_frames]
    whole = generator.continue_clip(cont.item, context)
    assert whole.frames.shape[0] == cont.item.num_frames
    assert generator.name == f"model:{model}+planning"  # the tiny transformer reads layouts
    text_only = make_generator(str(model), None, steps=2, planning=False, refiners=False)
    assert text_only.name == f"model:{model}"
    assert data.layout(0)[0].min() == 1  # world clips come with their layouts
