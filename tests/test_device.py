"""Generation on an explicit device and precision: every model, input and intermediate tensor is
where it was asked to be. The CUDA cases run where a GPU is, and are skipped elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sorakit.cli.main import main
from sorakit.device import resolve_device, resolve_dtype
from sorakit.models.dit import DIT_PRESETS, DiT
from sorakit.models.text import TextEncoder
from sorakit.models.tokens import TokenBatch
from sorakit.models.vae import VAE_PRESETS, CausalVAE
from sorakit.pipeline import GenerationRequest, PipelineConfig, TextToVideoPipeline

DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
    ),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    torch.manual_seed(0)
    dit = DiT(DIT_PRESETS["tiny"])
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    refiner = DiT(DIT_PRESETS["tiny-refiner"])
    config = PipelineConfig(width=16, height=16, frames=9, steps=2, refiner_steps=1)
    path = tmp_path_factory.mktemp("model")
    TextToVideoPipeline(
        CausalVAE(VAE_PRESETS["tiny"]), dit, TextEncoder.from_pretrained("minilm"), config,
        refiners={"spatial": refiner, "temporal": refiner},
    ).save_pretrained(path)  # fmt: skip
    return path


def test_names_resolve_or_fail_in_one_line():
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    assert resolve_dtype("bf16") is torch.bfloat16 and resolve_dtype(None) is torch.float32
    with pytest.raises(ValueError, match="unknown dtype 'fp8'"):
        resolve_dtype("fp8")


def _everything_on(pipe, device: torch.device) -> None:
    models = [pipe.vae, pipe.transformer, pipe.text_encoder.model, *pipe.refiners.values()]
    for model in models:
        for tensor in [*model.parameters(), *model.buffers()]:
            assert tensor.device.type == device.type, type(model).__name__


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_every_mode_runs_on_the_device_it_was_given(folder, device, dtype, monkeypatch):
    pipe = TextToVideoPipeline.from_pretrained(folder, device=device, dtype=dtype)
    target = resolve_device(device)
    _everything_on(pipe, target)
    seen = []  # (device of every tensor of the batch, autocast on, its dtype) at each call
    real = DiT.forward

    def spy(self, batch: TokenBatch):
        tensors = [v for v in vars(batch).values() if isinstance(v, torch.Tensor)]
        autocast = torch.is_autocast_enabled(target.type)
        seen.append(({t.device.type for t in tensors}, autocast,
                     torch.get_autocast_dtype(target.type) if autocast else None))  # fmt: skip
        out = real(self, batch)
        assert out.device.type == target.type
        return out

    monkeypatch.setattr(DiT, "forward", spy)
    clip = np.random.default_rng(0).integers(0, 255, (9, 16, 16, 3), dtype=np.uint8)
    requests = [
        dict(), dict(planning=False), dict(image=clip[0]), dict(loop=True),
        dict(video=clip, video_fps=8.0, extend="forward", frames=5),
        dict(video=clip, video_fps=8.0, strength=0.5),
        dict(connect=((clip[:5], 8.0), (clip, 8.0)), frames=5),
        dict(width=32, height=32, fps=16.0),  # the cascade
    ]  # fmt: skip
    for fields in requests:
        video = pipe.generate(GenerationRequest(prompt="a red ball falls", seed=1, **fields))
        assert isinstance(video.frames, np.ndarray) and video.frames.dtype == np.uint8
    video = pipe.refine_video("spatial", clip[:5], 8.0, "a red ball")
    assert video.frames.shape[1:3] == (32, 32)
    want = torch.bfloat16 if dtype == "bf16" else None
    assert seen and all(d == {target.type} for d, _, _ in seen)
    assert all(on == (want is not None) and got == want for _, on, got in seen)


def test_a_seed_gives_the_same_video_on_the_same_device(folder):
    one = TextToVideoPipeline.from_pretrained(folder, device="cpu")
    two = TextToVideoPipeline.from_pretrained(folder).to("cpu")
    request = GenerationRequest(prompt="a red ball falls", seed=7)
    assert np.array_equal(one.generate(request).frames, two.generate(request).frames)


def test_the_cli_takes_a_device_and_a_dtype(capsys, folder, tmp_path):
    base = ["generate", "a red ball", "--model", str(folder), "--out"]
    assert main([*base, str(tmp_path / "a.mp4"), "--device", "cpu", "--dtype", "bf16"]) == 0
    assert main([*base, str(tmp_path / "b.mp4"), "--device", "tpu"]) == 2
    assert main([*base, str(tmp_path / "c.mp4"), "--dtype", "fp8"]) == 2
    err = capsys.readouterr().err
    assert "'--device': unknown device 'tpu'" in err and "'--dtype': unknown dtype 'fp8'" in err
    assert not (tmp_path / "b.mp4").exists() and not (tmp_path / "c.mp4").exists()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    from test_train_dit import make_cache, mixed_clips

    return make_cache(tmp_path_factory.mktemp("cache"), mixed_clips())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["fp32", "bf16", "fp16"])
def test_training_keeps_model_ema_optimizer_and_batches_on_the_device(
    cache, tmp_path, device, dtype, monkeypatch
):
    from sorakit.train.dit import DiTTrainer, make_config

    target = resolve_device(device)
    seen = []
    real = DiT.forward

    def spy(self, batch: TokenBatch):
        seen.append({v.device.type for v in vars(batch).values() if isinstance(v, torch.Tensor)})
        return real(self, batch)

    monkeypatch.setattr(DiT, "forward", spy)
    trainer = DiTTrainer(make_config("tiny", data=str(cache), out=str(tmp_path), steps=2,
                                     batch_size=2, device=device, dtype=dtype))  # fmt: skip
    result = trainer.run()
    assert seen and all(s == {target.type} for s in seen)
    states = [v for s in trainer.opt.state.values() for v in s.values() if torch.is_tensor(v)]
    tensors = [*trainer.model.parameters(), *trainer.ema.parameters(), *states]
    assert states and all(t.device.type == target.type for t in tensors)
    assert trainer.scaler.is_enabled() == (dtype == "fp16")
    assert all(np.isfinite(log.loss) for log in result.logs)


def test_a_bad_training_device_is_one_line(capsys, cache, tmp_path):
    code = main(["train", "--data", str(cache), "--out", str(tmp_path), "--preset", "tiny",
                 "--device", "tpu"])  # fmt: skip
    assert code == 2 and "unknown device 'tpu'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    import json

    from sorakit.data.video import write_video
    from sorakit.world.clip import render_clip

    folder = tmp_path_factory.mktemp("world")
    rows = []
    for i in range(4):
        clip = render_clip(i, 32, 32, 8, 9)
        write_video(folder / f"{i}.mp4", clip.frames, 8)
        rows.append({"path": f"{i}.mp4", "caption": clip.caption})
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["fp32", "bf16", "fp16"])
def test_vae_training_runs_on_the_device(manifest, tmp_path, device, dtype):
    from sorakit.train.vae import VAETrainer, make_config

    target = resolve_device(device)
    config = dict(manifest=str(manifest), steps=2, batch_size=2, device=device, dtype=dtype)
    trainer = VAETrainer(make_config("tiny", out=str(tmp_path), **config))
    result = trainer.run()
    states = [v for s in trainer.opt.state.values() for v in s.values() if torch.is_tensor(v)]
    tensors = [*trainer.model.parameters(), *trainer.model.buffers(), *states]
    assert states and all(t.device.type == target.type for t in tensors)
    assert trainer.scaler.is_enabled() == (dtype == "fp16")
    assert all(np.isfinite(log.loss) for log in result.logs)
    with pytest.raises(ValueError, match="fp16 training with the GAN loss"):
        VAETrainer(make_config("tiny", manifest=str(manifest), out=str(tmp_path / "gan"),
                               adv_weight=0.1, dtype="fp16"))  # fmt: skip


@pytest.mark.parametrize("device", DEVICES)
def test_preprocess_and_eval_take_a_device(capsys, manifest, tmp_path, device):
    from sorakit.train.latents import LatentDataset

    vae = tmp_path / "vae"
    CausalVAE(VAE_PRESETS["tiny"]).save_pretrained(vae)
    cache = tmp_path / "cache"
    assert main(["preprocess", "--manifest", str(manifest), "--vae", str(vae), "--out",
                 str(cache), "--buckets", "world64", "--device", device]) == 0  # fmt: skip
    data = LatentDataset(cache)
    assert len(data) == 4 and data[0][0].device.type == "cpu"  # caches live on the host
    assert main(["eval", "vae", "--manifest", str(manifest), "--model", str(vae),
                 "--device", device, "--dtype", "bf16"]) == 0  # fmt: skip
    assert "PSNR" in capsys.readouterr().out
