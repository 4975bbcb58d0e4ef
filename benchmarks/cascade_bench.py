"""The cascade's refiners against the simple alternatives, on exact world ground truth.

- Spatial: world clips rendered at 64 px and at 128 px (the same scene). From the 64 px render:
  bicubic upsampling vs the spatial refiner; PSNR against the 128 px render (mean over clips,
  and of the error pooled over clips). The VAE's own reconstruction of the 128 px render is
  printed beside them (the ceiling), and each refiner's PSNR against that reconstruction: its
  own latent error, apart from what the decoder cannot draw.
- Temporal: world clips at 16 fps; every other frame is the 8 fps clip. From it: repeating
  frames, blending neighbours, motion-compensated midpoints (what the refiner reads, before the
  VAE), and the temporal refiner; PSNR (mean over clips, and of the
  error pooled over clips) and object position error (detector centre against the annotation,
  pixels) on the in-between frames.
- `refiner` runs without a plan, as `upscale` / `interpolate` on a user's video do (so a model's
  text-only refiner, where it has one). A refiner that reads layouts is also run with the
  clip's own annotation as its plan (`refiner_with_layout`): what it gets in a planned
  cascade, where the plan is the scene.
- Speed: one video at twice the base's size and rate, by the cascade and by the base directly,
  interleaved, as a ratio.

    python benchmarks/cascade_bench.py --model PATH [--clips 12] [--threads 2] [--json out.json]
        [--parts spatial,temporal,speed]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from sorakit.cascade import upsample_video
from sorakit.data.transforms import from_model_tensor, to_model_tensor
from sorakit.world.detect import detect_video
from sorakit.pipeline import TextToVideoPipeline
from sorakit.world.clip import render_clip

SEED0 = 900_000  # seeds far from any training set's


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return db(mse(a, b))


def db(error: float) -> float:
    return float(10 * np.log10(255.0**2 / max(error, 1e-10)))


def vae_roundtrip(pipe, frames: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        z = pipe.vae.encode(to_model_tensor(frames)[None])
        return from_model_tensor(pipe.vae.decode(z).clamp(-1, 1)[0]).numpy()


def bicubic(frames: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    up = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
    return up.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def position_error(frames: np.ndarray, annotation: dict, indices: list[int]) -> float:
    """Mean distance (pixels) from each annotated object to the nearest detection of its
    colour on the frames `indices`; a missing object costs the canvas side."""
    dets = detect_video(frames[indices])
    side = float(max(frames.shape[1:3]))
    errors = []
    for k, t in enumerate(indices):
        for obj in annotation["frames"][t]["objects"]:
            same = [d.center for d in dets[k] if d.colour == obj["colour"]]
            if not same:
                errors.append(side)
                continue
            errors.append(min(float(np.hypot(*np.subtract(c, obj["center"]))) for c in same))
    return float(np.mean(errors))


def motion_midpoints(low: np.ndarray) -> np.ndarray:
    """The clip at twice the rate, motion-compensated frames between (`sorakit.cascade`)."""
    up = upsample_video(to_model_tensor(low)[None], "temporal")[0]
    return from_model_tensor(up).numpy()


def reads_layout(pipe, kind: str) -> bool:
    return bool(pipe.refiners[kind].config.layout_channels)


def spatial(pipe, clips: int) -> dict:
    mses = {"bicubic": [], "refiner": [], "vae_ceiling": []}
    if reads_layout(pipe, "spatial"):
        mses["refiner_with_layout"] = []
    # Each refiner's output against the VAE's round trip of the truth, not the truth: its own
    # latent error, apart from what the decoder cannot draw.
    own = {k: [] for k in mses if k.startswith("refiner")}
    for i in range(clips):
        hi = render_clip(SEED0 + i, 128, 128, 16.0, 9, split="heldout")
        lo = render_clip(SEED0 + i, 64, 64, 16.0, 9, split="heldout")
        ceiling = vae_roundtrip(pipe, hi.frames)
        outputs = {
            "bicubic": bicubic(lo.frames),
            "refiner": pipe.refine_video("spatial", lo.frames, 16.0, lo.caption, seed=i).frames,
            "vae_ceiling": ceiling,
        }
        if "refiner_with_layout" in mses:
            outputs["refiner_with_layout"] = pipe.refine_video(
                "spatial", lo.frames, 16.0, lo.caption, seed=i, plan=hi.annotation
            ).frames
        for name, frames in outputs.items():
            mses[name].append(mse(frames, hi.frames))
            if name in own:
                own[name].append(mse(frames, ceiling))
    return {
        **{k: float(np.mean([db(e) for e in v])) for k, v in mses.items()},  # mean per clip
        "psnr_pooled": {k: db(float(np.mean(v))) for k, v in mses.items()},
        "against_vae_ceiling_pooled": {k: db(float(np.mean(v))) for k, v in own.items()},
    }


def temporal(pipe, clips: int) -> dict:
    psnrs = {"repeat": [], "blend": [], "midpoints": [], "refiner": [], "vae_ceiling": []}
    if reads_layout(pipe, "temporal"):
        psnrs["refiner_with_layout"] = []
    errors = {k: [] for k in psnrs}
    mses = {k: [] for k in psnrs}
    for i in range(clips):
        hi = render_clip(SEED0 + 500 + i, 64, 64, 16.0, 17, split="heldout")
        lo = hi.frames[::2]
        odd = list(range(1, 17, 2))
        repeat = hi.frames.copy()
        blend = hi.frames.copy()
        for t in odd:
            a, b = lo[(t - 1) // 2], lo[(t + 1) // 2]
            repeat[t] = a
            blend[t] = ((a.astype(np.uint16) + b + 1) // 2).astype(np.uint8)  # rounded
        outputs = {
            "repeat": repeat,
            "blend": blend,
            "midpoints": motion_midpoints(lo),
            "refiner": pipe.refine_video("temporal", lo, 8.0, hi.caption, seed=i).frames,
            "vae_ceiling": vae_roundtrip(pipe, hi.frames),
        }
        if reads_layout(pipe, "temporal"):  # the scene's own boxes, as a plan would give
            outputs["refiner_with_layout"] = pipe.refine_video(
                "temporal", lo, 8.0, hi.caption, seed=i, plan=hi.annotation
            ).frames
        for name, frames in outputs.items():
            mses[name].append(mse(frames[odd], hi.frames[odd]))
            psnrs[name].append(db(mses[name][-1]))
            errors[name].append(position_error(frames, hi.annotation, odd))
    # A clip with nothing moving is blended and repeated exactly (PSNR 148 dB under
    # the 1e-10 floor), which swamps a mean of per-clip PSNRs; the PSNR of the pooled error
    # over every clip is the figure that such clips cannot dominate.
    wins = sum(r > b for r, b in zip(psnrs["refiner"], psnrs["blend"], strict=True))
    return {
        "psnr": {k: float(np.mean(v)) for k, v in psnrs.items()},
        "psnr_pooled": {k: db(float(np.mean(v))) for k, v in mses.items()},
        "clips_refiner_beats_blend": int(wins),
        "static_clips": int(sum(e < 1e-6 for e in mses["blend"])),
        "position_error_px": {k: float(np.mean(v)) for k, v in errors.items()},
    }


def speed(pipe, repeats: int) -> dict:
    c = pipe.config
    final = dict(width=2 * c.width, height=2 * c.height, fps=2 * c.fps, frames=c.frames,
                 planning=False)  # fmt: skip
    prompt = "a red ball falls and bounces"
    pipe(prompt, steps=2, **final)  # warm-up
    times = {"cascade": [], "direct": []}
    for _ in range(repeats):
        for name, flags in (("cascade", {}), ("direct", {"spatial_refiner": False, "temporal_refiner": False})):
            start = time.perf_counter()
            video = pipe(prompt, **final, **flags)
            times[name].append(time.perf_counter() - start)
            if name == "cascade":
                stages = video.provenance.cascade
    med = {k: statistics.median(v) for k, v in times.items()}
    request = {k: v for k, v in final.items() if k != "planning"}
    ratio = med["direct"] / med["cascade"]
    return {"seconds": med, "direct_over_cascade": ratio, "stages": stages, "request": request}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="A model folder with both refiners.")
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--parts", default="spatial,temporal,speed")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pipe = TextToVideoPipeline.from_pretrained(args.model)
    parts = {"spatial": lambda: spatial(pipe, args.clips),
             "temporal": lambda: temporal(pipe, args.clips),
             "speed": lambda: speed(pipe, args.repeats)}  # fmt: skip
    result = {name: parts[name]() for name in args.parts.split(",")}
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
