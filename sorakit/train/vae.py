"""Training the causal video VAE on a manifest (images and videos of mixed sizes, by bucket).

Loss: `l1_weight` * L1 + `mse_weight` * MSE + `ssim_weight` * (1 - SSIM) + `edge_weight` *
(L1 of the spatial gradients) + `kl_weight` * KL in pixels, plus, after `adv_start` steps and
if `adv_weight` > 0, a hinge loss from a 3D patch discriminator. Checkpoints hold weights,
optimizers, the data position and RNG states, so a run killed at any moment resumes exactly
from its last checkpoint.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from sorakit.data.buckets import BucketConfig
from sorakit.data.dataset import VideoDataset, collate_videos, make_dataloader
from sorakit.data.manifest import read_manifest
from sorakit.data.transforms import from_model_tensor
from sorakit.data.video import write_video
from sorakit.device import autocast, resolve_device, resolve_dtype
from sorakit.models.discriminator import PatchDiscriminator3D
from sorakit.models.vae import VAE_PRESETS, CausalVAE, grow_decoder
from sorakit.train.checkpoint import (
    TrainingState,
    changed_settings,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    saved_config,
)
from sorakit.train.logs import summary_writer
from sorakit.train.losses import edge_l1, hinge_discriminator, hinge_generator, psnr, ssim
from sorakit.train.presets import from_preset
from sorakit.train.runtime import set_threads
from sorakit.train.schedule import check_decay, learning_rate
from sorakit.train.stop import StopOnSignal

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainVAEConfig:
    manifest: str = ""
    out: str = ""
    model: str = "world-per-frame"  # a VAE_PRESETS name
    buckets: str = "world64"  # a data.buckets PRESETS name
    fps: float = 8.0
    batch_size: int = 8
    steps: int = 4000
    # The VAE first sits at about the colour shortcut's quality (4x4 cell means) and only
    # later learns edges inside cells. Overfitting four world images, PSNR at steps 200 / 300
    # / 400: 28.3 / 32.5 / 40.7 dB at 6e-4, 30.3 / 37.6 / 42.2 at 3e-4, 31.1 / 35.5 / 39.6 at
    # 1e-4 (benchmarks/vae_lr_overfit.py).
    lr: float = 3e-4
    warmup: int = 100
    lr_decay: str = "cosine"  # after warm-up: constant or cosine (`sorakit.train.schedule`)
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    # World frames are mostly background: L1 alone first collapses to the background (its
    # median) and learns objects slowly; MSE pulls them in early (measured: 19 vs 32 dB after
    # 300 steps on one clip), so both are used.
    l1_weight: float = 0.2
    mse_weight: float = 1.0
    ssim_weight: float = 0.1
    # Small circles came back as patch-aligned squares at 1600 steps (`eval world --model
    # vae:...`), which pixel losses barely see; the gradient term weighs outlines.
    edge_weight: float = 0.0
    kl_weight: float = 1e-6
    adv_weight: float = 0.0
    adv_start: int = 2000
    checkpoint_every: int = 250
    val_every: int = 500
    val_manifest: str | None = None
    seed: int = 0
    num_workers: int = 0
    threads: int | None = None  # torch intra-op threads; None keeps torch's default
    deterministic: bool = False  # one thread, deterministic kernels: bit-identical runs
    device: str = "cpu"  # auto, cpu, cuda, cuda:N or mps
    dtype: str = "fp32"  # compute precision: fp32, or bf16 / fp16 autocast (fp16 with a scaler)
    init: str | None = None  # a VAE folder to start from (same architecture)
    # Train the decoder alone: the encoder and the latent normalisation stay as `init` has them,
    # so the latent space, and every transformer trained on it, stays valid.
    decoder_only: bool = False

    def __post_init__(self) -> None:
        check_decay(self.lr_decay)
        if self.decoder_only and not self.init:
            raise ValueError("decoder-only training needs a trained VAE to start from (--init)")


TRAIN_VAE_PRESETS: dict[str, TrainVAEConfig] = {
    # Seconds on a laptop CPU: for tests and smoke runs.
    "tiny": TrainVAEConfig(model="tiny", batch_size=2, steps=20, checkpoint_every=10, val_every=10),
    # World clips: the per-frame colour shortcut, which keeps motion inside a latent frame; the
    # shipped default model's VAE is this one with its decoder grown to `world-per-frame-deep`
    # afterwards (recipes/default-model.sh).
    "world": TrainVAEConfig(model="world-per-frame", batch_size=8, steps=4000),
}


def make_config(preset: str, **overrides) -> TrainVAEConfig:
    return from_preset(TRAIN_VAE_PRESETS, preset, VAE_PRESETS, overrides)


def _initial_model(config: TrainVAEConfig) -> CausalVAE:
    """A fresh model of the preset, or `init`'s weights (its architecture must be the preset's,
    or the preset's with fewer decoder blocks: then the decoder grows, `grow_decoder`); with
    `decoder_only`, the encoder's parameters do not train."""
    preset = VAE_PRESETS[config.model]
    if not config.init:
        return CausalVAE(preset)
    model = CausalVAE.from_pretrained(config.init)
    if model.config != preset:
        try:
            model = grow_decoder(model, preset)
        except ValueError:
            raise ValueError(
                f"--init {config.init} is not a {config.model!r} VAE, nor one with a smaller "
                "decoder; pass its architecture with --model"
            ) from None
    if config.decoder_only:
        model.encoder.requires_grad_(False)
    return model


@dataclass
class StepLog:
    step: int
    loss: float
    l1: float
    ssim: float
    kl: float
    psnr: float
    adv: float = 0.0


@dataclass
class TrainResult:
    logs: list[StepLog] = field(default_factory=list)
    skipped: int = 0
    model_dir: Path | None = None  # None when stopped early: only the checkpoint was written
    stopped_early: bool = False


class VAETrainer:
    """Owns the model, optimizers and data of one run; `run()` trains to `config.steps`."""

    def __init__(self, config: TrainVAEConfig):
        self.config = config
        if not config.manifest or not config.out:
            raise ValueError("a training run needs its manifest and out folders")
        set_threads(config.threads, config.deterministic)
        self.device, self.dtype = resolve_device(config.device), resolve_dtype(config.dtype)
        if self.dtype == torch.float16 and config.adv_weight > 0:
            raise ValueError("fp16 training with the GAN loss is not supported; use bf16")
        torch.manual_seed(config.seed)
        np.random.seed(config.seed)
        self.model = _initial_model(config).to(self.device)
        self.opt = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=config.lr,
            betas=(0.9, 0.99),
            weight_decay=config.weight_decay,
        )
        self.disc = self.disc_opt = None
        if config.adv_weight > 0:
            self.disc = PatchDiscriminator3D().to(self.device)
            self.disc_opt = torch.optim.AdamW(
                self.disc.parameters(), lr=config.lr, betas=(0.5, 0.9)
            )
        self.loader = make_dataloader(
            config.manifest,
            config.fps,
            BucketConfig.preset(config.buckets),
            config.batch_size,
            num_workers=config.num_workers,
            seed=config.seed,
        )
        self.sampler = self.loader.batch_sampler
        # fp16 needs its loss scaled; for other precisions the scaler passes everything through.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
        self.out = Path(config.out)
        self.step = 0
        self.data_position = {"epoch": 0, "batches_yielded": 0}

    # --- checkpoints ---
    def _modules(self) -> dict:
        return {"vae": self.model, **({"disc": self.disc} if self.disc is not None else {})}

    def _optimizers(self) -> dict:
        return {"vae": self.opt, **({"disc": self.disc_opt} if self.disc_opt is not None else {})}

    def save(self) -> Path:
        state = TrainingState(self.step, dict(self.data_position), {})
        return save_checkpoint(
            self.out / "checkpoints",
            state,
            self._modules(),
            self._optimizers(),
            asdict(self.config),
        )

    def resume(self) -> bool:
        """Load the newest complete checkpoint, if any; True if training resumed."""
        folder = latest_checkpoint(self.out / "checkpoints")
        if folder is None:
            return False
        saved = saved_config(folder)
        for line in changed_settings(folder, saved, asdict(self.config), fixed=("model",)):
            logger.warning("resuming with a changed setting, %s", line)
        state, _ = load_checkpoint(folder, self._modules(), self._optimizers())
        self.step, self.data_position = state.step, dict(state.data)
        self.sampler.load_state_dict(self.data_position)
        logger.info("resumed from %s (step %d)", folder, self.step)
        return True

    # --- one step ---
    def _losses(self, x: torch.Tensor) -> tuple[torch.Tensor, StepLog, torch.Tensor]:
        # The networks run in the compute precision; the losses in fp32 (SSIM's variances
        # came out NaN in bf16).
        with autocast(self.device, self.dtype):
            if self.config.decoder_only:
                with torch.no_grad():  # the encoder is frozen: no graph through it
                    post = self.model.posterior(x)
                recon = self.model.decode(post.sample())
            else:
                recon, post = self.model(x)
        recon = recon.float()
        cfg = self.config
        l1 = (recon - x).abs().mean()
        s = ssim(recon, x)
        kl = post.kl()
        loss = (
            cfg.l1_weight * l1
            + cfg.edge_weight * (edge_l1(recon, x) if cfg.edge_weight else 0.0)
            + cfg.mse_weight * (recon - x).pow(2).mean()
            + cfg.ssim_weight * (1 - s)
            + cfg.kl_weight * kl
        )
        adv = torch.zeros((), device=x.device)
        if self.disc is not None and self.step >= self.config.adv_start:
            with autocast(self.device, self.dtype):
                adv = hinge_generator(self.disc(recon))
            loss = loss + self.config.adv_weight * adv
        # One host sync a step, for the log, instead of one a value.
        values = torch.stack(
            [v.detach().float() for v in (loss, l1, s, kl, psnr(recon.detach(), x), adv)]
        ).tolist()
        return loss, StepLog(self.step + 1, *values), recon

    def _disc_step(self, real: torch.Tensor, fake: torch.Tensor) -> None:
        with autocast(self.device, self.dtype):
            loss = hinge_discriminator(self.disc(real), self.disc(fake))
        self.disc_opt.zero_grad(set_to_none=True)  # also drops the generator loss's gradients
        loss.backward()
        self.disc_opt.step()

    def train_step(self, x: torch.Tensor) -> StepLog:
        self.model.train()
        cfg = self.config
        for group in self.opt.param_groups:
            group["lr"] = learning_rate(self.step, cfg.lr, cfg.warmup, cfg.steps, cfg.lr_decay)
        x = x.to(self.device, non_blocking=True)
        loss, log, recon = self._losses(x)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        # The discriminator learns after the generator's step: its loss graph used its weights.
        if self.disc is not None and self.step >= self.config.adv_start:
            self._disc_step(x, recon.detach())
        self.step += 1
        return log

    # --- the loop ---
    def batches(self):
        """Training batches forever, from the saved data position on; tracks the position
        (counted here, not read from the sampler, which runs ahead under worker processes)."""
        while True:
            epoch, done = self.sampler.epoch, self.sampler.batches_yielded
            for batch in self.loader:
                done += 1
                self.data_position = {"epoch": epoch, "batches_yielded": done}
                yield batch
            self.data_position = {"epoch": epoch + 1, "batches_yielded": 0}

    def run(
        self, on_step: Callable[[StepLog], None] | None = None, stop: StopOnSignal | None = None
    ) -> TrainResult:
        """Train to `config.steps` and save `OUT/model`; with `stop`, a signal ends the run
        early at a step boundary, with a checkpoint of that step and no `OUT/model`."""
        result = TrainResult()
        writer = summary_writer(self.out / "logs", self.step + 1 if self.step else None)
        for batch in self.batches():
            if self.step >= self.config.steps:
                break
            result.skipped += batch["skipped"]
            if batch["video"] is None:
                continue
            log = self.train_step(batch["video"])
            result.logs.append(log)
            if writer is not None:
                for key, value in asdict(log).items():
                    if key != "step":
                        writer.add_scalar(f"train/{key}", value, log.step)
            if on_step is not None:
                on_step(log)
            if stop is not None and stop.requested(step=self.step):
                result.stopped_early = True
                self.save()
                break
            if self.step % self.config.checkpoint_every == 0 or self.step == self.config.steps:
                self.save()
            if self.config.val_manifest and self.step % self.config.val_every == 0:
                self.validate(writer)
        if writer is not None:
            writer.close()
        if not result.stopped_early:
            result.model_dir = self.finish()
        return result

    @torch.no_grad()
    def validate(self, writer=None, max_clips: int = 4) -> float:
        """Mean PSNR on the validation manifest; writes side-by-side videos (truth | recon)."""
        self.model.eval()
        rows, _ = read_manifest(self.config.val_manifest)
        data = VideoDataset(
            rows[:max_clips], self.config.fps, buckets=BucketConfig.preset(self.config.buckets)
        )
        folder = self.out / "val" / f"step-{self.step:07d}"
        folder.mkdir(parents=True, exist_ok=True)
        scores = []
        for i in range(len(data)):
            batch = collate_videos([data[i]])
            if batch["video"] is None:
                continue
            x = batch["video"].to(self.device)
            recon = self.model.decode(self.model.encode(x)).clamp(-1, 1)
            scores.append(float(psnr(recon, x)))
            side = torch.cat([x, recon], dim=-1)[0].cpu()  # (C, T, H, 2W)
            frames = from_model_tensor(side).numpy()
            name = folder / (f"{i:03d}.png" if frames.shape[0] == 1 else f"{i:03d}.mp4")
            write_video(name, frames, self.config.fps)
        mean = float(np.mean(scores)) if scores else float("nan")
        if writer is not None:
            writer.add_scalar("val/psnr", mean, self.step)
        return mean

    @torch.no_grad()
    def finish(self, batches: int = 8) -> Path:
        """Save the model, with its latent normalisation fitted on a few training batches
        (unless only the decoder trained: then the latent space is `init`'s)."""
        self.model.eval()
        if not self.config.decoder_only:
            self._fit_normalisation(batches)
        folder = self.out / "model"
        self.model.save_pretrained(folder)
        return folder

    def _fit_normalisation(self, batches: int) -> None:
        # From the data position on, across the epoch's end: the loader alone stops there, and
        # a run that ended on an epoch's last batch once fitted nothing.
        means = []
        for batch in itertools.islice(self.batches(), batches):
            if batch["video"] is not None:
                video = batch["video"].to(self.device)
                z = self.model.encode(video) * self.model.latent_scale.view(1, -1, 1, 1, 1)
                means.append(z.transpose(0, 1).flatten(1))  # (C, n) raw latent values
        if means:
            raw = torch.cat(means, dim=1) + self.model.latent_shift[:, None]
            self.model.latent_shift.copy_(raw.mean(1))
            self.model.latent_scale.copy_(raw.std(1).clamp_min(1e-3))
