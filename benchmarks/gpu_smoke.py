"""One command that proves the GPU path: data, bf16 training, a hard kill and a resume, FSDP2 on
every GPU, generation on the device, and the transformer's speed beside diffusers' Wan.

    .venv/bin/python benchmarks/gpu_smoke.py [--out outputs/gpu-smoke] [--steps 200]

With CUDA it trains the `base` transformer (about 130M parameters) in bf16 for `--steps` steps
on one GPU. Without CUDA it runs the same steps on the CPU with the `tiny` preset and a few
steps, so that CI keeps every step of it working (`bash scripts/test.sh` runs it so). It prints
a table: tokens/s, MFU against the GPU's bf16 peak, peak memory, and the same for diffusers'
`WanTransformer3DModel` at matched width, depth and tokens, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dit_bench import matched_wan, params, random_samples, step_flops  # noqa: E402

from sorakit.models.dit import DIT_PRESETS, DiT  # noqa: E402
from sorakit.models.tokens import stack  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAE = ROOT / "sorakit" / "assets" / "default-model" / "vae"
# Dense bf16 peak FLOP/s by card name, from the makers' data sheets (SXM parts).
BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sorakit.cli.main", *args]


def run(*args: str) -> float:
    """Run one `sorakit` command, failing loudly; returns its seconds."""
    start = time.perf_counter()
    done = subprocess.run(cli(*args), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: sorakit {' '.join(args)}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def kill_and_resume(train: list[str], checkpoints: Path, first: int) -> float:
    """Start training, kill -9 it once a checkpoint of step >= `first` is complete, then run
    the same command again, which resumes; returns the seconds of the resumed run."""
    proc = subprocess.Popen(cli(*train), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        done = [p for p in checkpoints.glob("step-*") if (p / "state.json").exists()]
        if any(int(p.name.split("-")[1]) >= first for p in done):
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    proc.wait()
    if proc.returncode != -signal.SIGKILL:
        sys.exit(f"training ended before it could be killed (exit {proc.returncode})")
    return run(*train)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(device: torch.device, preset: str, frames: int, size: int, batch: int) -> dict:
    """Training-step speed of sorakit's transformer and a parameter-matched Wan on the same
    latents, in bf16 autocast, measured alternately; FLOPs counted with FlopCounterMode."""
    cfg = DIT_PRESETS[preset]
    torch.manual_seed(0)
    ours = DiT(cfg).to(device)
    wan = matched_wan(cfg, params(ours))[0].to(device)
    gen = torch.Generator().manual_seed(0)
    samples = random_samples(cfg, [(frames, size, size)] * batch, [32] * batch, gen)
    tokens_batch = stack(samples, cfg.patch_size, cfg.ref_fps).to(device)
    latents = torch.stack([s.latent for s in samples]).to(device)
    timestep = torch.stack([s.t for s in samples]).to(device) * 1000
    text = torch.stack([s.text for s in samples]).to(device)

    def ours_loss():
        return ours(tokens_batch).float().pow(2).mean()

    def wan_loss():
        return wan(latents, timestep, text, return_dict=False)[0].float().pow(2).mean()

    result = {"tokens": tokens_batch.x.shape[0] * tokens_batch.x.shape[1]}
    for name, model, loss_fn in (("sorakit", ours, ours_loss), ("wan", wan, wan_loss)):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)

        def step(loss_fn=loss_fn, opt=opt):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                loss = loss_fn()
            loss.backward()
            opt.step()

        flops = step_flops(loss_fn)
        for _ in range(2):  # warm-up
            step()
        _sync(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        start, repeats = time.perf_counter(), 5
        for _ in range(repeats):
            step()
        _sync(device)
        seconds = (time.perf_counter() - start) / repeats
        peak = torch.cuda.max_memory_allocated(device) / 1024**3 if device.type == "cuda" else None
        result[name] = {"params": params(model), "s_per_step": seconds,
                        "tokens_per_s": result["tokens"] / seconds,
                        "flops_per_s": flops / seconds, "peak_gb": peak}  # fmt: skip
    return result


def bf16_peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in BF16_PEAK.items() if k in name), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("outputs/gpu-smoke"))
    ap.add_argument("--steps", type=int, default=200, help="training steps on a GPU")
    args = ap.parse_args()
    gpu = torch.cuda.is_available()
    device = torch.device("cuda" if gpu else "cpu")
    gpus = torch.cuda.device_count() if gpu else 2  # CPU: two gloo processes
    preset, model, steps = ("world", "base", args.steps) if gpu else ("tiny", "tiny", 6)
    dtype = "bf16" if gpu else "fp32"
    shutil.rmtree(args.out, ignore_errors=True)
    out, rows = args.out, []
    card = torch.cuda.get_device_name(device) if gpu else "CPU"
    print(f"gpu_smoke on {card}: preset {preset}, model {model}, {steps} steps", flush=True)

    seconds = run("data", "synth", "--out", str(out / "data"), "--num", "48" if gpu else "6",
                  "--seed", "0", "--frames", "17", "--workers", "0")  # fmt: skip
    rows.append(("synthesise world data", f"{seconds:.1f} s"))
    manifest = str(out / "data" / "manifest.jsonl")
    seconds = run("preprocess", "--manifest", manifest, "--vae", str(DEFAULT_VAE), "--out",
                  str(out / "cache"), "--device", device.type)  # fmt: skip
    rows.append(("encode latents (the shipped VAE)", f"{seconds:.1f} s"))
    every = max(2, steps // 4)
    train = ["train", "--data", str(out / "cache"), "--out", str(out / "run"), "--preset",
             preset, "--model", model, "--steps", str(steps), "--batch-size", "4",
             "--checkpoint-every", str(every), "--device", device.type,
             "--dtype", dtype]  # fmt: skip
    seconds = kill_and_resume(train, out / "run" / "checkpoints", every)
    rows.append((f"train, kill -9 after step {every}, resume to {steps}", f"{seconds:.1f} s"))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={gpus}", "-m", "sorakit.cli.main", "train", "--data",
                str(out / "cache"), "--out", str(out / "fsdp"), "--preset", preset, "--model",
                model, "--steps", "4", "--batch-size", str(2 * gpus), "--parallel", "fsdp",
                "--dtype", dtype]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(torchrun, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: FSDP2 on {gpus} processes\n{done.stderr[-2000:]}")
    rows.append((f"FSDP2 on {gpus} {'GPUs' if gpu else 'CPU processes'}, 4 steps",
                 f"{time.perf_counter() - start:.1f} s"))  # fmt: skip
    seconds = run("generate", "a red ball falls and bounces", "--out", str(out / "ball.mp4"),
                  "--device", device.type)  # fmt: skip
    rows.append((f"generate on {device.type} (the shipped model)", f"{seconds:.1f} s"))

    shape = (13, 32, 32) if gpu else (3, 8, 8)  # latent frames, height, width
    speed = throughput(device, "base" if gpu else "tiny", *shape[:2], batch=4 if gpu else 2)
    peak = bf16_peak(device)
    for name in ("sorakit", "wan"):
        r = speed[name]
        mfu = f"{100 * r['flops_per_s'] / peak:.1f}%" if peak else "n/a"
        mem = f"{r['peak_gb']:.2f} GB" if r["peak_gb"] is not None else "n/a"
        rows.append((f"{name} transformer, {r['params'] / 1e6:.1f}M params, bf16 training step",
                     f"{r['tokens_per_s']:,.0f} tokens/s, MFU {mfu}, peak {mem}"))  # fmt: skip
    ratio = speed["sorakit"]["tokens_per_s"] / speed["wan"]["tokens_per_s"]
    rows.append(("sorakit tokens/s over Wan's", f"{ratio:.2f}x ({speed['tokens']} tokens a step)"))
    print("\n| step | result |\n|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")


if __name__ == "__main__":
    main()
