"""What a VAE's held-out PSNR on world clips should be read against: the codec and the cell means.

World clips are stored as H.264 (yuv420p) MP4, so a perfect reconstruction of the clean render
still differs from the stored clip: the "codec floor" is the PSNR of the stored clip against
the same scene re-rendered without compression (the ceiling of any VAE scored on the MP4s).
The cell means are the other end: every s x s block of a frame replaced by its mean colour,
which is what the `world-per-frame` VAE's colour shortcut returns with its network silent (s = 4). A
trained VAE that does not beat the 4x4 cell means has learned nothing on top of the shortcut.

    python benchmarks/vae_floor.py --manifest outputs/vae-data/val.jsonl --root outputs/vae-data
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sorakit.data.video import read_video
from sorakit.world.clip import render_clip


def psnr(mses: list[float]) -> float:
    """PSNR in dB of the mean squared error over clips, on [0, 1] pixels."""
    return float(10 * np.log10(1.0 / np.mean(mses)))


def cell_means(frames: np.ndarray, s: int) -> np.ndarray:
    """(T, H, W, 3) float frames with each s x s block replaced by its mean."""
    x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None]
    m = F.avg_pool3d(x, (1, s, s)).repeat_interleave(s, 3).repeat_interleave(s, 4)
    return m[0].permute(1, 2, 3, 0).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", required=True, help="World clips with their seeds (JSONL).")
    ap.add_argument("--root", help="Folder of the manifest's paths (default: the manifest's).")
    ap.add_argument("--limit", type=int, default=100)
    args = ap.parse_args()
    root = Path(args.root or Path(args.manifest).parent)
    with open(args.manifest) as f:
        rows = [json.loads(line) for line in f][: args.limit]
    codec, cells = [], {2: [], 4: []}
    for row in rows:
        clean = (
            render_clip(
                row["seed"],
                row["width"],
                row["height"],
                row["fps"],
                row["num_frames"],
                row["split"],
            ).frames.astype(np.float64)
            / 255
        )
        stored = np.asarray(read_video(root / row["path"]).frames, dtype=np.float64) / 255
        codec.append(float(((stored - clean) ** 2).mean()))
        for s, errs in cells.items():
            errs.append(float(((cell_means(stored, s) - stored) ** 2).mean()))
    print(f"{len(rows)} clips of {args.manifest}")
    print(f"codec floor (stored MP4 vs clean render): {psnr(codec):.2f} dB")
    for s, errs in cells.items():
        print(f"{s}x{s} cell means per frame (vs the stored clip): {psnr(errs):.2f} dB")


if __name__ == "__main__":
    main()
