"""`sorakit train-vae`, `sorakit reconstruct` and `sorakit eval vae`: the compression network."""

from __future__ import annotations

from pathlib import Path

import typer

from sorakit.cli.data import (
    DETERMINISTIC_OPTION,
    LR_DECAY_OPTION,
    STOP_AFTER_OPTION,
    WARMUP_OPTION,
    console,
    progress_bar,
    report_stopped_early,
)
from sorakit.cli.inputs import (
    DEVICE_OPTION,
    DTYPE_OPTION,
    check_output,
    device_and_dtype,
    finite,
    note,
    read_media,
)


def train_vae(
    manifest: Path = typer.Option(..., "--manifest", help="Training manifest (JSONL or CSV)."),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Run folder: checkpoints/, logs/ (TensorBoard), "
        "val/ (side-by-side videos) and model/ (the trained VAE).",
    ),
    preset: str = typer.Option("world", "--preset", help="Training preset: tiny or world."),
    model: str = typer.Option(
        None,
        "--model",
        help="VAE architecture (tiny, world, world-per-frame, world-per-frame-deep, world-s8); "
        "default: the preset's.",
    ),
    buckets: str = typer.Option(
        None,
        "--buckets",
        help="Size buckets: world64 (the preset's), world128, or world-multi (both; each clip "
        "at the scale nearest its own).",
    ),
    steps: int = typer.Option(None, "--steps", min=1, help="Total optimizer steps."),
    batch_size: int = typer.Option(None, "--batch-size", min=1),
    lr: float = typer.Option(None, "--lr", help="AdamW learning rate.", callback=finite),
    warmup: int = WARMUP_OPTION,
    lr_decay: str = LR_DECAY_OPTION,
    stop_after: int = STOP_AFTER_OPTION,
    edge_weight: float = typer.Option(
        None,
        "--edge-weight",
        min=0.0,
        help="Weight of the L1 between the spatial gradients of output and input (sharp "
        "outlines of small objects); 0 off.",
        callback=finite,
    ),
    adv_weight: float = typer.Option(
        None, "--adv-weight", help="3D patch GAN loss weight; 0 off.", callback=finite
    ),
    adv_start: int = typer.Option(None, "--adv-start", help="Step at which the GAN loss starts."),
    val_manifest: Path = typer.Option(
        None, "--val-manifest", help="Clips for validation PSNR and side-by-side reconstructions."
    ),
    checkpoint_every: int = typer.Option(None, "--checkpoint-every", min=1),
    workers: int = typer.Option(None, "--workers", min=0, help="Data loader processes."),
    threads: int = typer.Option(None, "--threads", min=1, help="Torch threads."),
    device: str = typer.Option(None, "--device", help="auto, cpu (default), cuda, cuda:N or mps."),
    dtype: str = typer.Option(
        None,
        "--dtype",
        help="fp32 (default), bf16 or fp16 (autocast; fp16 with a loss "
        "scaler, not with the GAN loss). bf16 is slow on CPUs without bf16 units (AMX).",
    ),
    deterministic: bool = DETERMINISTIC_OPTION,
    init: Path = typer.Option(
        None,
        "--init",
        help="Start from a trained VAE folder of the same architecture (fine-tuning), or of "
        "the same with fewer decoder blocks (world-per-frame into world-per-frame-deep): the new "
        "blocks start as "
        "the identity, so training starts from that VAE's output.",
    ),
    decoder_only: bool = typer.Option(
        False,
        "--decoder-only",
        help="With --init: train the decoder alone. The encoder and latent normalisation stay "
        "as they are, so transformers trained on that latent space stay valid.",
    ),
    resume: bool = typer.Option(
        True,
        "--resume/--no-resume",
        help="Continue from the newest complete checkpoint in OUT, if there is one.",
    ),
) -> None:
    """Train the causal video VAE on images and videos of mixed sizes (bucketed).

    Checkpoints are written atomically and hold weights, optimizer, data position and RNG
    state. Ctrl-C (or SIGTERM) stops after the current step with a checkpoint; after any
    stop, even a hard kill, rerun the same command to continue exactly.
    """
    from sorakit.train.stop import StopOnSignal
    from sorakit.train.vae import VAETrainer, make_config

    try:
        config = make_config(
            preset,
            manifest=str(manifest),
            out=str(out),
            model=model,
            buckets=buckets,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            warmup=warmup,
            lr_decay=lr_decay,
            edge_weight=edge_weight,
            adv_weight=adv_weight,
            adv_start=adv_start,
            checkpoint_every=checkpoint_every,
            val_manifest=None if val_manifest is None else str(val_manifest),
            num_workers=workers,
            threads=threads,
            deterministic=deterministic or None,
            device=device,
            dtype=dtype,
            init=None if init is None else str(init),
            decoder_only=decoder_only or None,
        )
        trainer = VAETrainer(config)
        if resume:
            trainer.resume()
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from None
    with StopOnSignal(stop_after) as stop, progress_bar() as bar:
        task = bar.add_task("training VAE", total=config.steps, completed=trainer.step)

        def on_step(log) -> None:
            text = f"training VAE  loss {log.loss:.4f}  psnr {log.psnr:.1f}"
            bar.update(task, completed=log.step, description=text)
            if not console.is_terminal and log.step % 50 == 0:  # a log file gets lines
                console.print(f"step {log.step}: {text}")

        result = trainer.run(on_step, stop)
    if result.skipped:
        console.print(f"skipped {result.skipped} unreadable samples")
    if result.stopped_early:
        report_stopped_early(trainer.step, trainer.out, stop_after)
    print(result.model_dir)


VAE_HELP = "A VAE folder or a model folder (default: the shipped model's VAE)."


def _load_vae(model: Path | None):
    from sorakit.pipeline import load_vae

    try:
        return load_vae(model)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def reconstruct(
    video: Path = typer.Argument(..., help="Any video or image."),
    out: Path = typer.Option(..., "--out", help="Output .mp4 (or .png for an image)."),
    model: Path = typer.Option(None, "--model", help=VAE_HELP),
    device: str = DEVICE_OPTION,
    dtype: str = DTYPE_OPTION,
    chunk: int = typer.Option(2, "--chunk", min=1, help="Latent frames per chunk (memory)."),
) -> None:
    """Encode and decode a video at its own size and frame rate (cropped to the nearest size the
    VAE accepts), to see what the latent space keeps. Prints the PSNR."""
    import torch

    from sorakit.data.safe_read import RECONSTRUCT_INPUT
    from sorakit.data.transforms import from_model_tensor, to_model_tensor
    from sorakit.data.video import write_video
    from sorakit.device import autocast
    from sorakit.fileio import atomic_write
    from sorakit.train.losses import psnr

    check_output(out, (".mp4", ".png"))
    device, dtype = device_and_dtype(device, dtype)
    clip, fps = read_media(video, "video", RECONSTRUCT_INPUT)
    vae = _load_vae(model).to(device)
    frames = _crop_to_valid(clip, vae.config)
    if frames.shape != clip.shape:
        kept = f"{frames.shape[2]}x{frames.shape[1]}, {len(frames)} frames"
        note(f"{video} is {clip.shape[2]}x{clip.shape[1]}, {len(clip)} frames; the VAE takes "
             f"{kept} (centre crop)")  # fmt: skip
    if out.suffix.lower() == ".png" and len(frames) > 1:
        raise typer.BadParameter(f"{video} has {len(frames)} frames: write an .mp4",
                                 param_hint="'--out'")  # fmt: skip
    x = to_model_tensor(torch.from_numpy(frames))[None].to(device)
    with torch.no_grad(), autocast(device, dtype):
        recon = vae.decode(vae.encode(x, chunk=chunk), chunk=chunk).clamp(-1, 1).float()
    result = from_model_tensor(recon[0].cpu()).numpy()
    atomic_write(out, lambda p: write_video(p, result, fps or 8.0))
    console.print(
        f"{frames.shape[2]}x{frames.shape[1]}, {frames.shape[0]} frames: "
        f"PSNR {float(psnr(recon, x)):.2f} dB"
    )
    print(out)


def _crop_to_valid(frames, config):
    """Centre-crop (T, H, W, 3) frames to the largest size and frame count the VAE accepts."""
    sf, tf = config.spatial_factor, config.temporal_factor
    t, h, w = frames.shape[:3]
    if h < sf or w < sf:
        raise typer.BadParameter(f"video is {w}x{h}; the VAE needs at least {sf}x{sf}")
    h2, w2, t2 = h // sf * sf, w // sf * sf, 1 + (t - 1) // tf * tf
    y0, x0 = (h - h2) // 2, (w - w2) // 2
    return frames[:t2, y0 : y0 + h2, x0 : x0 + w2]


def eval_vae(
    manifest: Path = typer.Option(..., "--manifest", help="Clips to reconstruct."),
    model: Path = typer.Option(None, "--model", help=VAE_HELP),
    device: str = DEVICE_OPTION,
    dtype: str = DTYPE_OPTION,
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N clips."),
) -> None:
    """PSNR and SSIM of reconstructions over a manifest: one line per clip, then the mean."""
    import numpy as np
    import torch

    from sorakit.data.clip import read_clip
    from sorakit.data.manifest import read_manifest
    from sorakit.data.transforms import to_model_tensor
    from sorakit.data.video import VideoReadError, probe
    from sorakit.device import autocast
    from sorakit.train.losses import psnr, ssim

    device, dtype = device_and_dtype(device, dtype)
    vae = _load_vae(model).to(device)
    rows, _ = read_manifest(manifest)
    rows = rows[:limit] if limit else rows
    scores = []
    with progress_bar() as bar:
        task = bar.add_task("reconstructing", total=len(rows))
        for row in rows:
            try:
                frames = _crop_to_valid(read_clip(row, probe(row.path)).frames, vae.config)
            except VideoReadError as exc:
                console.print(f"row {row.row}: skipped: {exc}")
                continue
            x = to_model_tensor(torch.from_numpy(frames))[None].to(device)
            with torch.no_grad(), autocast(device, dtype):
                recon = vae.decode(vae.encode(x, chunk=2), chunk=2).clamp(-1, 1).float()
            scores.append((float(psnr(recon, x)), float(ssim(recon, x))))
            print(f"{row.path}\tPSNR {scores[-1][0]:.2f}\tSSIM {scores[-1][1]:.4f}")
            bar.advance(task)
    if not scores:
        raise typer.Exit(1)
    p, s = np.mean(scores, axis=0)
    print(f"mean over {len(scores)} clips\tPSNR {p:.2f}\tSSIM {s:.4f}")
