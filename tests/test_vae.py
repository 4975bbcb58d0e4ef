"""The causal video VAE: causality, shapes, chunked equals full, persistence, training."""

from __future__ import annotations

import dataclasses
import os
import signal

import pytest
import torch

from sorakit.data.manifest import write_manifest
from sorakit.data.video import write_video
from sorakit.models.vae import VAE_PRESETS, CausalVAE, VAEConfig, grow_decoder
from sorakit.train.losses import edge_l1, psnr
from sorakit.train.stop import StopOnSignal
from sorakit.train.vae import VAETrainer, make_config
from sorakit.world.clip import render_clip

TINY = VAE_PRESETS["tiny"]  # 4x space, 4x time
# 8x space with a 2x patch fold and a level that does not halve time, like the default model.
MIXED = VAEConfig(
    latent_channels=4,
    base_channels=8,
    channel_mults=(1, 2, 2),
    patch_size=2,
    spatial_down=(True, True, False),
    temporal_down=(False, True, True),
)


# The colour shortcut per frame: 3 colours x 4 frames = 12 latent channels.
FRAMES = dataclasses.replace(TINY, latent_channels=12, colour_shortcut=True, shortcut_frames=True)


@pytest.fixture(scope="module", params=[TINY, MIXED, FRAMES], ids=["tiny", "mixed", "frames"])
def vae(request):
    torch.manual_seed(0)
    return CausalVAE(request.param).eval()


@torch.no_grad()
def test_causality(vae):
    """Changing frame k never changes the latents of earlier latent frames."""
    tf = vae.config.temporal_factor
    x = torch.randn(1, 3, 1 + 3 * tf, 16, 24)
    z = vae.encode(x)
    for k in range(1, x.shape[2]):
        y = x.clone()
        y[:, :, k:] = torch.randn_like(y[:, :, k:])
        first_touched = 1 + (k - 1) // tf  # the latent frame holding frame k
        assert torch.equal(vae.encode(y)[:, :, :first_touched], z[:, :, :first_touched])
        assert not torch.equal(vae.encode(y)[:, :, first_touched], z[:, :, first_touched])
    # The decoder is causal too: later latents never change earlier frames.
    zz = z.clone()
    zz[:, :, 2:] += 1.0
    out, out2 = vae.decode(z), vae.decode(zz)
    assert torch.equal(out[:, :, : 1 + tf], out2[:, :, : 1 + tf])


@torch.no_grad()
@pytest.mark.parametrize("frames", [1, 5, 9])
@pytest.mark.parametrize("size", [(8, 8), (24, 40), (40, 24)])
def test_shapes_round_trip(vae, frames, size):
    tf, sf = vae.config.temporal_factor, vae.config.spatial_factor
    frames = 1 + (frames - 1) // 4 * tf
    h, w = (max(sf, s // sf * sf) for s in size)
    x = torch.randn(2, 3, frames, h, w)
    z = vae.encode(x)
    assert tuple(z.shape[1:]) == vae.config.latent_shape(frames, h, w)
    assert vae.decode(z).shape == x.shape


def test_invalid_sizes_are_clear_errors(vae):
    sf = vae.config.spatial_factor
    with pytest.raises(ValueError, match="frame count"):
        vae.encode(torch.randn(1, 3, 2 + vae.config.temporal_factor, sf, sf))
    with pytest.raises(ValueError, match="multiples"):
        vae.encode(torch.randn(1, 3, 1, sf + 1, sf))


@torch.no_grad()
def test_chunked_equals_full(vae):
    tf = vae.config.temporal_factor
    x = torch.randn(1, 3, 1 + 4 * tf, 16, 16)
    z = vae.encode(x)
    for chunk in (1, 2, 3):
        torch.testing.assert_close(vae.encode(x, chunk=chunk), z, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(vae.decode(z, chunk=chunk), vae.decode(z), rtol=1e-4, atol=1e-5)


@torch.no_grad()
def test_tiling_covers_the_frame_and_matches_untiled_inside(vae):
    sf = vae.config.spatial_factor
    x = torch.randn(1, 3, 1, 8 * sf, 8 * sf)
    z = vae.encode(x)
    tiled = vae.decode(z, tile=4 * sf)
    assert tiled.shape == vae.decode(z).shape and torch.isfinite(tiled).all()
    one_tile = vae.decode(z, tile=8 * sf)  # a tile as large as the frame is no tiling
    torch.testing.assert_close(one_tile, vae.decode(z))


def test_save_and_load_round_trip(vae, tmp_path):
    vae.latent_shift.fill_(0.25)
    vae.latent_scale.fill_(2.0)
    vae.save_pretrained(tmp_path / "vae")
    loaded = CausalVAE.from_pretrained(tmp_path / "vae")
    assert loaded.config == vae.config
    x = torch.randn(1, 3, 1 + vae.config.temporal_factor, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(x), vae.encode(x))
    assert (tmp_path / "vae" / "model.safetensors").exists()
    assert (tmp_path / "vae" / "config.json").exists()
    vae.latent_shift.fill_(0.0)
    vae.latent_scale.fill_(1.0)


@pytest.mark.slow
def test_tiny_model_overfits_one_clip():
    torch.manual_seed(0)
    clip = render_clip(3, 32, 32, 8, 5)
    x = torch.from_numpy(clip.frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    model = CausalVAE(dataclasses.replace(TINY, base_channels=16))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(300):
        recon, post = model(x)
        loss = (recon - x).pow(2).mean() + 1e-6 * post.kl()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert psnr(model.decode(model.encode(x)).clamp(-1, 1), x) > 28.0


@pytest.fixture(scope="module")
def world_manifest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    rows = []
    for i in range(6):
        frames = (1, 9)[i % 2]
        clip = render_clip(i, 64, 64, 8, frames)
        name = f"{i}.png" if frames == 1 else f"{i}.mp4"
        write_video(folder / name, clip.frames, 8)
        rows.append({"path": name, "caption": clip.caption})
    write_manifest(folder / "manifest.jsonl", rows)
    return folder / "manifest.jsonl"


def _tiny_trainer(manifest, out, **overrides) -> VAETrainer:
    cfg = dict(manifest=str(manifest), out=str(out), batch_size=2, val_every=1000)
    return VAETrainer(make_config("tiny", **{**cfg, **overrides}))


def _six_steps(manifest, out) -> VAETrainer:
    """Six steps with warm-up and cosine decay, checkpoints every 3."""
    return _tiny_trainer(manifest, out, steps=6, warmup=2, lr_decay="cosine", checkpoint_every=3)


@pytest.mark.slow
def test_resume_equals_uninterrupted(world_manifest, tmp_path):
    """A run killed after step 4 resumes from its step-3 checkpoint and ends where an
    uninterrupted run ends (warm-up and cosine decay included)."""

    class Killed(Exception):
        pass

    def kill_at_4(log):
        if log.step == 4:
            raise Killed

    full = [log.loss for log in _six_steps(world_manifest, tmp_path / "a").run().logs]
    with pytest.raises(Killed):
        _six_steps(world_manifest, tmp_path / "b").run(kill_at_4)
    resumed = _six_steps(world_manifest, tmp_path / "b")
    assert resumed.resume() and resumed.step == 3
    rest = [log.loss for log in resumed.run().logs]
    assert rest == pytest.approx(full[3:], rel=1e-6)
    assert (tmp_path / "b" / "model" / "model.safetensors").exists()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, None], ids=["int", "term", "after"])
def test_signal_stops_with_a_checkpoint_of_that_step(world_manifest, tmp_path, sig):
    """Ctrl-C or SIGTERM at step 4, or --stop-after 4 (checkpoints every 3), keeps step 4,
    not 3, and the run resumed from it ends where an uninterrupted run ends."""

    def signal_at_4(log):
        if log.step == 4 and sig is not None:
            os.kill(os.getpid(), sig)

    full = [log.loss for log in _six_steps(world_manifest, tmp_path / "a").run().logs]
    with StopOnSignal(after=None if sig else 4) as stop:
        stopped = _six_steps(world_manifest, tmp_path / "b").run(signal_at_4, stop)
    assert stopped.stopped_early and stopped.model_dir is None
    assert not (tmp_path / "b" / "model").exists()
    resumed = _six_steps(world_manifest, tmp_path / "b")
    assert resumed.resume() and resumed.step == 4
    rest = [log.loss for log in resumed.run().logs]
    assert rest == pytest.approx(full[4:], rel=1e-6)


def test_adversarial_loss_switches_on_after_warm_up(world_manifest, tmp_path):
    trainer = _tiny_trainer(world_manifest, tmp_path, steps=3, adv_weight=0.1, adv_start=2)
    disc_before = [p.clone() for p in trainer.disc.parameters()]
    logs = trainer.run().logs
    assert [log.adv == 0.0 for log in logs] == [True, True, False]
    after = list(trainer.disc.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(disc_before, after, strict=True))
    assert (tmp_path / "checkpoints" / "step-0000003" / "disc.safetensors").exists()


def test_edge_loss_sees_a_blurred_outline_that_pixel_losses_barely_see():
    disc = torch.zeros(1, 1, 1, 32, 32)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    disc[..., (yy - 15.5) ** 2 + (xx - 15.5) ** 2 <= 16] = 1.0  # radius 4 px
    blurred = torch.nn.functional.avg_pool3d(disc, (1, 3, 3), stride=1, padding=(0, 1, 1))
    assert edge_l1(disc, disc) == 0 and edge_l1(disc + 0.3, disc) < 1e-6  # outlines only
    # Relative to the pixel L1 of the same blur, the gradient term is the larger one.
    assert edge_l1(blurred, disc) > 1.5 * (blurred - disc).abs().mean()


def test_edge_weight_adds_the_edge_loss(world_manifest, tmp_path):
    plain = _tiny_trainer(world_manifest, tmp_path / "a", steps=1).run().logs[0].loss
    edged = _tiny_trainer(world_manifest, tmp_path / "b", steps=1, edge_weight=5.0)
    assert edged.run().logs[0].loss > plain


@torch.no_grad()
def test_per_frame_shortcut_carries_each_frames_cell_colour():
    """With the network silent, the per-frame shortcut alone returns every frame's cell means:
    motion inside a latent frame survives the latent (the block mean would repeat one)."""
    vae = CausalVAE(FRAMES).eval()
    for module in (vae.encoder.conv_out.conv, vae.decoder.conv_out.conv):
        module.weight.zero_()
        module.bias[: FRAMES.latent_channels].zero_()
    x = torch.rand(1, 3, 9, 8, 8) * 2 - 1
    sf = FRAMES.spatial_factor
    means = torch.nn.functional.avg_pool3d(x, (1, sf, sf))
    expected = means.repeat_interleave(sf, 3).repeat_interleave(sf, 4)
    torch.testing.assert_close(vae.decode(vae.encode(x)), expected, atol=1e-4, rtol=1e-4)


def test_decoder_only_fine_tuning_keeps_the_latent_space(world_manifest, tmp_path):
    """--init --decoder-only: the encoder and the latent normalisation come out bit for bit as
    they went in (a transformer trained on those latents stays valid); the decoder trains."""
    trained = _tiny_trainer(world_manifest, tmp_path, steps=2).run().model_dir
    start = CausalVAE.from_pretrained(trained)
    with torch.no_grad():  # a normalisation that refitting on the data would change
        start.latent_shift.add_(0.5)
        start.latent_scale.mul_(2.0)
    base = tmp_path / "base"
    start.save_pretrained(base)
    tuned = (
        _tiny_trainer(
            world_manifest, tmp_path / "tuned", steps=3, init=str(base), decoder_only=True
        )
        .run()
        .model_dir
    )
    end = CausalVAE.from_pretrained(tuned)
    before, after = start.state_dict(), end.state_dict()
    for name in before:
        same = torch.equal(before[name], after[name])
        assert same == (not name.startswith("decoder.")), name


def test_decoder_only_needs_a_model_of_the_same_architecture(world_manifest, tmp_path):
    with pytest.raises(ValueError, match="--init"):
        make_config("tiny", manifest=str(world_manifest), out=str(tmp_path), decoder_only=True)
    other = CausalVAE(MIXED)
    other.save_pretrained(tmp_path / "mixed")
    with pytest.raises(ValueError, match="not a 'tiny' VAE"):
        _tiny_trainer(world_manifest, tmp_path / "x", init=str(tmp_path / "mixed"))


@torch.no_grad()
def test_grown_decoder_starts_as_the_smaller_one_and_its_new_blocks_train():
    torch.manual_seed(0)
    small = CausalVAE(FRAMES).eval()
    for p in small.parameters():  # weights a trained model could have, not the init's
        p.add_(0.05 * torch.randn_like(p))
    deep = dataclasses.replace(FRAMES, decoder_blocks=3)
    grown = grow_decoder(small, deep)
    assert grown.config == deep and not grown.training
    assert sum(p.numel() for p in grown.decoder.parameters()) > sum(
        p.numel() for p in small.decoder.parameters()
    )
    z = torch.randn(2, FRAMES.latent_channels, 3, 4, 5)
    torch.testing.assert_close(grown.decode(z), small.decode(z), atol=1e-5, rtol=1e-5)
    with torch.enable_grad():
        grown.decode(z).square().mean().backward()
    new_conv = grown.decoder.levels[0][-1].conv2.conv.weight
    assert new_conv.grad is not None and new_conv.grad.abs().sum() > 0


def test_decoder_growth_refuses_other_changes():
    small = CausalVAE(FRAMES)
    with pytest.raises(ValueError, match="only decoder_blocks"):
        grow_decoder(small, dataclasses.replace(FRAMES, decoder_blocks=2, base_channels=16))
    deep = grow_decoder(small, dataclasses.replace(FRAMES, decoder_blocks=3))
    with pytest.raises(ValueError, match="cannot grow 3 decoder blocks a level into 2"):
        grow_decoder(deep, dataclasses.replace(FRAMES, decoder_blocks=2))


def test_decoder_only_training_grows_a_smaller_decoder(world_manifest, tmp_path, monkeypatch):
    """--init with a preset that has more decoder blocks: the run starts from the smaller
    VAE's outputs exactly, and the encoder stays bit for bit."""
    monkeypatch.setitem(VAE_PRESETS, "tiny-deep", dataclasses.replace(TINY, decoder_blocks=2))
    trained = _tiny_trainer(world_manifest, tmp_path, steps=2).run().model_dir
    trainer = _tiny_trainer(
        world_manifest,
        tmp_path / "deep",
        steps=2,
        init=str(trained),
        decoder_only=True,
        model="tiny-deep",
    )
    start = CausalVAE.from_pretrained(trained)
    z = torch.randn(1, TINY.latent_channels, 2, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(trainer.model.decode(z), start.decode(z), atol=1e-5, rtol=1e-5)
    end = CausalVAE.from_pretrained(trainer.run().model_dir)
    assert end.config.decoder_blocks == 2
    for name, value in start.encoder.state_dict().items():
        assert torch.equal(end.encoder.state_dict()[name], value), name


def test_normalisation_is_fitted_when_a_run_ends_at_an_epochs_end(world_manifest, tmp_path):
    """The run reads one batch past its last step, so a run of (epoch - 1) steps leaves its
    epoch with no batch; the fit goes on into the next epoch (it once fitted nothing)."""
    epoch = len(_tiny_trainer(world_manifest, tmp_path / "probe").sampler)
    for steps in (epoch - 1, epoch):
        run = _tiny_trainer(world_manifest, tmp_path / str(steps), steps=steps).run()
        assert CausalVAE.from_pretrained(run.model_dir).latent_scale.ne(1).all(), steps


def test_train_vae_help_names_every_architecture():
    """The CLI lists the presets by hand (it does not import torch for --help); this keeps the
    list from drifting."""
    from typer.testing import CliRunner

    from sorakit.cli.main import app

    result = CliRunner().invoke(app, ["train-vae", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    listed = result.output.split("VAE architecture (")[1].split(")")[0].split(", ")
    assert sorted(listed) == sorted(VAE_PRESETS)
