"""Does the VAE's colour shortcut (residual autoencoding) make colour learnable? An A/B.

Trains the "world" VAE twice from the same seed on the same world clips, once with
`colour_shortcut` and once without, for a few steps each, then reports PSNR and chroma (max - min
over RGB, on object pixels) of reconstructions against the truth. Grey blobs have chroma near 0.

    .venv/bin/python benchmarks/vae_shortcut_ab.py --manifest outputs/vae-data/train.jsonl \
        [--frames 1] [--steps 80]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from sorakit.data.dataset import VideoDataset, collate_videos
from sorakit.data.manifest import read_manifest
from sorakit.models.vae import VAE_PRESETS, CausalVAE
from sorakit.train.losses import psnr, ssim


def load_clips(manifest: str, frames: int, count: int = 64) -> torch.Tensor:
    rows, _ = read_manifest(manifest)
    data = VideoDataset(rows[: count * 4], 8.0, size=(frames, 64, 64))
    clips = []
    for i in range(len(data)):
        video = collate_videos([data[i]])["video"]
        if video is not None:
            clips.append(video)
        if len(clips) == count:
            break
    return torch.cat(clips)


def chroma_on_objects(video: torch.Tensor, truth: torch.Tensor) -> float:
    background = truth.flatten(3).median(-1).values[..., None, None]
    objects = (truth - background).abs().sum(1) > 0.3
    return (video.max(1).values - video.min(1).values)[objects].mean().item()


def train_and_score(clips: torch.Tensor, shortcut: bool, steps: int, batch: int = 8) -> dict:
    torch.manual_seed(0)
    model = CausalVAE(dataclasses.replace(VAE_PRESETS["world"], colour_shortcut=shortcut))
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.99))
    start = time.perf_counter()
    for step in range(steps):
        x = clips[(step * batch) % len(clips) :][:batch]
        recon, _ = model(x)
        err = recon - x  # the trainer's loss: MSE + 0.2 L1 + 0.1 (1 - SSIM)
        loss = err.pow(2).mean() + 0.2 * err.abs().mean() + 0.1 * (1 - ssim(recon, x))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()
    with torch.no_grad():
        x = clips[:16]
        recon = model.decode(model.encode(x)).clamp(-1, 1)
    return {
        "psnr": float(psnr(recon, x)),
        "chroma": chroma_on_objects(recon, x),
        "truth_chroma": chroma_on_objects(x, x),
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--frames", type=int, default=1, help="1 (images) or 1 + 4k")
    parser.add_argument("--steps", type=int, default=80)
    args = parser.parse_args()
    clips = load_clips(args.manifest, args.frames)
    print(f"{len(clips)} clips of {args.frames} frames at 64x64, {args.steps} steps, batch 8\n")
    print("| colour shortcut | PSNR (dB) | chroma on objects | truth chroma | seconds |")
    print("|---|---|---|---|---|")
    for shortcut in (False, True):
        r = train_and_score(clips, shortcut, args.steps)
        print(
            f"| {'on' if shortcut else 'off'} | {r['psnr']:.2f} | {r['chroma']:.3f} | "
            f"{r['truth_chroma']:.3f} | {r['seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
