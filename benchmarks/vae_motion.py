"""Does the VAE keep motion inside a latent frame? A falling object, frame by frame.

Renders a world clip of one large red object falling (64x64, 8 fps, 17 frames), passes it through
the VAE, and prints the detector's vertical position of the object on every frame of the truth
and of the reconstruction. A VAE that keeps motion follows the truth; one that does not repeats
a position over the frames of each latent frame (a staircase), which no transformer can undo.

    python benchmarks/vae_motion.py --model outputs/vae-s4/model [--seed 5]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from sorakit.data.transforms import from_model_tensor, to_model_tensor
from sorakit.world.detect import detect_video
from sorakit.models.vae import CausalVAE
from sorakit.world.clip import clip_duration, render_scene
from sorakit.world.sampling import GroupSpec, SceneSpec, sample_scene


def heights(frames: np.ndarray) -> list[float]:
    """Vertical pixel position of the largest red detection on each frame (NaN if none)."""
    out = []
    for dets in detect_video(frames):
        red = [d for d in dets if d.colour == "red"]
        out.append(max(red, key=lambda d: d.area).center[1] if red else float("nan"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="A saved VAE folder.")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    vae = CausalVAE.from_pretrained(args.model)
    spec = SceneSpec((GroupSpec("fall", colour="red", size="large"),))
    scene, trajectory = sample_scene(args.seed, 1.0, clip_duration(8.0, 17), spec)
    clip = render_scene(scene, trajectory, 64, 64, 8.0, 17, "train")
    with torch.no_grad():
        z = vae.encode(to_model_tensor(clip.frames)[None])
        rec = from_model_tensor(vae.decode(z).clamp(-1, 1)[0]).numpy()
    for name, frames in (("truth", clip.frames), ("vae", rec)):
        print(f"{name:>5}: " + " ".join(f"{y:5.1f}" for y in heights(frames)))


if __name__ == "__main__":
    main()
