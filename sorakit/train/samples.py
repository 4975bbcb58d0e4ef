"""Sample videos during transformer training, to watch it learn."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from sorakit.data.transforms import from_model_tensor
from sorakit.diffusion.denoise import generate_latents
from sorakit.models.vae import CausalVAE
from sorakit.pipeline import GeneratedVideo, Provenance

logger = logging.getLogger(__name__)


def sample_during_training(trainer) -> None:
    """Sample videos for the first two cached captions with the EMA weights, decoded with the
    cache's VAE, into OUT/samples/step-N/ (skipped with a log line if the VAE is gone)."""
    vae_path = trainer.data.meta.get("vae")
    if not vae_path or not trainer.info.main or not Path(vae_path).exists():
        logger.info("no VAE recorded in the cache: skipping sample videos")
        return
    vae = CausalVAE.from_pretrained(vae_path)
    folder = Path(trainer.config.out) / "samples" / f"step-{trainer.step:07d}"
    ema = trainer.ema.eval()
    for i in range(min(2, len(trainer.data))):
        latent, row = trainer.data[i]
        text = trainer.data.text.batch([row.caption])[0][0]
        noise = torch.randn((1, *latent.shape), generator=torch.Generator().manual_seed(i))
        z = generate_latents(
            ema, noise.to(trainer.device), [text], [trainer.null_text], row.fps, steps=20,
            guidance=3.0,
        )  # fmt: skip
        frames = from_model_tensor(vae.decode(z.cpu()).clamp(-1, 1)[0]).numpy()
        record = Provenance(
            prompt=row.caption, mode="training-sample", model=str(trainer.config.out), seed=i,
            width=frames.shape[2], height=frames.shape[1], frames=len(frames), fps=row.fps,
            steps=20, guidance=3.0, training_step=trainer.step,
        )  # fmt: skip
        GeneratedVideo(frames, row.fps, record).save(folder / f"{i:02d}.mp4")
