"""VAE benchmarks, side by side in one run (ratios, not absolute times: these machines are noisy).

1. Throughput: encode + decode of the same world clips with sorakit's VAE and with diffusers'
   AutoencoderKLWan built at a matched parameter count and the same compression (8x space, 4x
   time, 16 channels). Runs alternate between the two models to share the machine's noise.
2. Memory: peak resident memory of chunked decoding of a 17-frame clip and of a clip 9x longer
   (157 frames), each in a fresh process, and how much each decode added to the process's peak.

Usage: python benchmarks/vae_bench.py [--model PATH] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch


def world_batch(n: int = 4, frames: int = 17, size: int = 64) -> torch.Tensor:
    from sorakit.world.clip import render_clip

    clips = [render_clip(seed, size, size, 8, frames).frames for seed in range(n)]
    x = torch.from_numpy(__import__("numpy").stack(clips)).permute(0, 4, 1, 2, 3)
    return x.float() / 127.5 - 1


def load_sorakit(path: str | None):
    from sorakit.models.vae import VAE_PRESETS, CausalVAE

    return (CausalVAE.from_pretrained(path) if path else CausalVAE(VAE_PRESETS["world-s8"])).eval()


def matched_wan(target: int):
    """AutoencoderKLWan with 8x space, 4x time, 16 channels and the parameter count nearest
    to `target`."""
    from diffusers import AutoencoderKLWan

    best = None
    for base in range(4, 97, 2):
        vae = AutoencoderKLWan(
            base_dim=base,
            z_dim=16,
            dim_mult=[1, 2, 4, 4],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
        )
        n = sum(p.numel() for p in vae.parameters())
        if best is None or abs(n - target) < abs(best[1] - target):
            best = (vae, n)
        if n > target:
            break
    return best[0].eval()


def params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def throughput(args) -> dict:
    from sorakit.models.diffusers_vae import DiffusersVAE

    ours = load_sorakit(args.model)
    wan = DiffusersVAE(matched_wan(params(ours)))
    x = world_batch()
    times = {"sorakit": [], "wan": []}
    for model in (ours, wan):  # warm-up
        model.decode(model.encode(x))
    for _ in range(args.repeats):
        for name, model in (("sorakit", ours), ("wan", wan)):
            start = time.perf_counter()
            model.decode(model.encode(x))
            times[name].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in times.items()}
    clips = x.shape[0]
    return {
        "clips": f"{clips} x {tuple(x.shape[2:])}",
        "params": {"sorakit": params(ours), "wan": params(wan.vae)},
        "clips_per_s": {k: clips / v for k, v in median.items()},
        "speedup_vs_wan": median["wan"] / median["sorakit"],
    }


def _peak_child(args, latent_frames: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child-decode", str(latent_frames)]
        + (["--model", args.model] if args.model else []),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def child_decode(args) -> None:
    model = load_sorakit(args.model)
    z = torch.randn(1, model.latent_channels, args.child_decode, 8, 8)
    # Reset the high-water mark so the peak is that of decoding, not of loading the model.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kb("VmRSS")
    with torch.no_grad():
        video = model.decode(z, chunk=1)
    print(
        json.dumps({"frames": video.shape[2], "before_kb": before, "peak_kb": _status_kb("VmHWM")})
    )


def memory(args, runs: int = 3) -> dict:
    """Medians over `runs` fresh processes each: the allocator makes single runs noisy."""
    short = [_peak_child(args, 5) for _ in range(runs)]
    long = [_peak_child(args, 5 * 8) for _ in range(runs)]

    def med(rows, key):
        return statistics.median(key(r) for r in rows) / 1024

    peak = lambda r: r["peak_kb"]  # noqa: E731
    grow = lambda r: r["peak_kb"] - r["before_kb"]  # noqa: E731
    return {
        "frames": {"short": short[0]["frames"], "long": long[0]["frames"]},
        "peak_mb": {"short": med(short, peak), "long": med(long, peak)},
        "peak_ratio": med(long, peak) / med(short, peak),
        "growth_during_decode_mb": {"short": med(short, grow), "long": med(long, grow)},
        "growth_ratio": med(long, grow) / med(short, grow),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        help="saved sorakit VAE folder (default: untrained 'world-s8', 8x space like Wan's)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child-decode", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_decode:
        child_decode(args)
        return
    print(
        json.dumps(
            {
                "threads": torch.get_num_threads(),
                "throughput": throughput(args),
                "memory": memory(args),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
