"""Does the VAE learn past its colour shortcut? Overfit a few world images at several rates.

Takes the first frames of the first `--images` 64x64 clips of a manifest and fits a fresh VAE
to them alone (MSE on the posterior mean, AdamW, no schedule), once per learning rate, printing
PSNR every `--every` steps. The 4x4 cell means (the shortcut with its network silent) score
about 26-27 dB on world frames (`benchmarks/vae_floor.py`); a run stuck near there has learned
little on top of it.

    python benchmarks/vae_lr_overfit.py --manifest outputs/vae-data/val.jsonl --lrs 6e-4 3e-4
"""

from __future__ import annotations

import argparse

import torch

from sorakit.data.buckets import BucketConfig
from sorakit.data.dataset import VideoDataset, collate_videos
from sorakit.data.manifest import read_manifest
from sorakit.models.vae import VAE_PRESETS, CausalVAE
from sorakit.train.losses import psnr


def first_frames(manifest: str, count: int) -> torch.Tensor:
    """(count, 3, 1, 64, 64) first frames of the manifest's 64x64 clips."""
    rows, _ = read_manifest(manifest)
    data = VideoDataset(rows[: 4 * count], 8.0, buckets=BucketConfig.preset("world64"))
    frames = []
    for i in range(len(data)):
        x = collate_videos([data[i]])["video"]
        if x is not None and x.shape[-2:] == (64, 64):
            frames.append(x[:, :, :1])
        if len(frames) == count:
            break
    return torch.cat(frames)


def fit(x: torch.Tensor, model: str, lr: float, steps: int, every: int, seed: int) -> list:
    torch.manual_seed(seed)
    vae = CausalVAE(VAE_PRESETS[model])
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, betas=(0.9, 0.99))
    curve = []
    for step in range(1, steps + 1):
        recon = vae.decode(vae.posterior(x).mean)
        loss = (recon - x).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % every == 0:
            curve.append((step, float(psnr(recon.detach(), x))))
    return curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--model", default="world-per-frame", choices=sorted(VAE_PRESETS))
    ap.add_argument("--lrs", type=float, nargs="+", default=[6e-4, 3e-4])
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    x = first_frames(args.manifest, args.images)
    print(f"{len(x)} images, model {args.model}; PSNR (dB) by step")
    for lr in args.lrs:
        curve = fit(x, args.model, lr, args.steps, args.every, args.seed)
        print(f"lr {lr:g}: " + "  ".join(f"{s}: {p:.2f}" for s, p in curve), flush=True)


if __name__ == "__main__":
    main()
