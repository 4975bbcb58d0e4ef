"""`sorakit preprocess` and `sorakit train`: latents and captions cached, then the transformer."""

from __future__ import annotations

from pathlib import Path

import typer

from sorakit.cli.data import (
    DETERMINISTIC_OPTION,
    LR_DECAY_OPTION,
    STOP_AFTER_OPTION,
    WARMUP_OPTION,
    console,
    parse_interval,
    progress_bar,
    report_stopped_early,
)
from sorakit.cli.inputs import DEVICE_OPTION, DTYPE_OPTION, device_and_dtype, finite


def preprocess(
    manifest: Path = typer.Option(..., "--manifest", help="Clips to encode (JSONL or CSV)."),
    out: Path = typer.Option(..., "--out", help="Cache folder (shards, captions, meta.json)."),
    vae: Path = typer.Option(..., "--vae", help="A saved VAE folder (train-vae's OUT/model)."),
    text_encoder: str = typer.Option(
        "minilm", "--text-encoder", help="minilm (shipped), or a Hugging Face T5/CLIP name/path."
    ),
    buckets: str = typer.Option(
        "world64", "--buckets", help="Size buckets: world64, world128, world-multi."
    ),
    fps: float = typer.Option(
        None,
        "--fps",
        help="Resample every clip to this rate (default: keep each clip's own).",
        callback=finite,
    ),
    refiner: str = typer.Option(
        None,
        "--refiner",
        help="spatial or temporal: also cache what that refiner reads for each clip: its "
        "low version (half the size or frame rate) upsampled back in pixels and encoded.",
    ),
    device: str = DEVICE_OPTION,
    dtype: str = DTYPE_OPTION,
) -> None:
    """Encode a manifest's clips with the VAE and its captions with the text encoder, once, so
    training reads small latents. Rerun the same command to finish an interrupted run."""

    from sorakit.data.buckets import BucketConfig
    from sorakit.data.manifest import ManifestError, read_manifest
    from sorakit.device import autocast
    from sorakit.models.text import TextEncoder
    from sorakit.models.vae import CausalVAE
    from sorakit.train.latents import preprocess as run

    device, dtype = device_and_dtype(device, dtype)
    try:
        if refiner is not None:
            from sorakit.cascade.resample import check_kind

            check_kind(refiner)
        rows, _ = read_manifest(manifest)
        model = CausalVAE.from_pretrained(vae).to(device)
        encoder = TextEncoder.from_pretrained(text_encoder, device=device)
        bucket_config = BucketConfig.preset(buckets)
    except (ValueError, OSError, ManifestError) as exc:
        raise typer.BadParameter(str(exc)) from None
    with progress_bar() as bar, autocast(device, dtype):
        task = bar.add_task("encoding clips", total=len(rows))
        meta = run(
            manifest, out, model, encoder, bucket_config, fps,
            on_clip=lambda: bar.advance(task), vae_path=str(vae.resolve()), refiner=refiner,
        )  # fmt: skip
    console.print(f"{meta['clips']} clips cached, {meta['skipped']} skipped")
    print(out)


def train(
    data: Path = typer.Option(..., "--data", help="A latent cache folder (sorakit preprocess)."),
    out: Path = typer.Option(
        ..., "--out", help="Run folder: checkpoints/, logs/ (TensorBoard), samples/, model/."
    ),
    preset: str = typer.Option(
        "world",
        "--preset",
        help="Training preset: tiny, world, or tiny-refiner / world-refiner (the cascade's "
        "refiners, on a cache made with preprocess --refiner).",
    ),
    model: str = typer.Option(
        None,
        "--model",
        help="Transformer: tiny, world-text, world, world-layout-per-frame, "
        "world-layout-outline (the default model's), world-layout-outline-colour (with colour "
        "and shape per pixel frame too), world-refiner, "
        "world-refiner-layout (a refiner that follows the plan's layout too), base, large.",
    ),
    steps: int = typer.Option(None, "--steps", min=1, help="Total optimizer steps."),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Clips per step, all GPUs."),
    pack_tokens: int = typer.Option(
        None, "--pack-tokens", min=1, help="Pack clips of any size into sequences of N tokens."
    ),
    lr: float = typer.Option(None, "--lr", help="AdamW learning rate.", callback=finite),
    warmup: int = WARMUP_OPTION,
    lr_decay: str = LR_DECAY_OPTION,
    stop_after: int = STOP_AFTER_OPTION,
    grad_accum: int = typer.Option(None, "--grad-accum", min=1, help="Batches per step."),
    bf16: bool = typer.Option(None, "--bf16/--fp32", help="The same as --dtype bf16 / fp32."),
    checkpoint_activations: bool = typer.Option(
        None,
        "--checkpoint-activations",
        help="Recompute each block's activations in the "
        "backward pass instead of keeping them: less memory, about a third more compute.",
    ),
    compile_blocks: bool = typer.Option(
        None,
        "--compile",
        help="torch.compile each transformer block (the first steps are slow while it compiles).",
    ),
    device: str = typer.Option(
        None,
        "--device",
        help="auto, cpu (default), cuda, cuda:N or mps; under torchrun each "
        "process takes its own GPU.",
    ),
    dtype: str = typer.Option(
        None,
        "--dtype",
        help="fp32 (default), bf16 or fp16 (autocast; fp16 with a loss scaler). "
        "bf16 is slow on CPUs without bf16 units (AMX).",
    ),
    parallel: str = typer.Option(
        None, "--parallel", help="none, ddp or fsdp; start with torchrun for several processes."
    ),
    checkpoint_every: int = typer.Option(None, "--checkpoint-every", min=1),
    sample_every: int = typer.Option(
        None, "--sample-every", min=1, help="Write sample videos every N steps (uses the VAE)."
    ),
    threads: int = typer.Option(None, "--threads", min=1, help="Torch threads per process."),
    deterministic: bool = DETERMINISTIC_OPTION,
    init: Path = typer.Option(
        None,
        "--init",
        help="Start from a trained transformer folder (fine-tuning; new layers, "
        "such as layout input, start at zero).",
    ),
    layout_dropout: float = typer.Option(
        None,
        "--layout-dropout",
        min=0.0,
        max=1.0,
        help="Chance a clip trains without its layout, so one model serves text-only and "
        "planned generation.",
        callback=finite,
    ),
    object_weight: float = typer.Option(
        None,
        "--object-weight",
        min=0.0,
        help="Loss weight added to tokens that objects cover (by the clip's annotation; layout "
        "models and refiners alike): 4 makes a fully covered token count five times; 0 "
        "(default) weighs every token alike.",
        callback=finite,
    ),
    input_pool: float = typer.Option(
        None,
        "--input-pool",
        min=0.0,
        max=1.0,
        help="Layout refiners: chance a clip keeping its layout has its base latent blurred "
        "(averaged over 4x4 latent cells) before its noise, as a half-size base blurs small "
        "shapes: the refiner learns them from the plan. 0 (default): the exact input always.",
        callback=finite,
    ),
    resume: bool = typer.Option(
        True, "--resume/--no-resume", help="Continue from the newest complete checkpoint."
    ),
) -> None:
    """Train the diffusion transformer with rectified flow on cached latents.

    One process: `sorakit train --data CACHE --out RUN`. Several (GPUs or CPU processes):
    `torchrun --nproc_per_node N -m sorakit.cli.main train ... --parallel ddp` (or fsdp).
    Ctrl-C (or SIGTERM) stops after the current step with a checkpoint; after any stop, even
    a hard kill, rerun the same command to continue exactly from the newest checkpoint.
    """
    from sorakit.train.dit import DiTTrainer, make_config
    from sorakit.train.parallel import init_distributed, shutdown_distributed
    from sorakit.train.stop import StopOnSignal

    info = init_distributed()
    try:
        config = make_config(
            preset, data=str(data), out=str(out), model=model, steps=steps,
            batch_size=batch_size, pack_tokens=pack_tokens, lr=lr, warmup=warmup,
            lr_decay=lr_decay, grad_accum=grad_accum,
            bf16=bf16, device=device, dtype=dtype, parallel=parallel,
            checkpoint_activations=checkpoint_activations, compile=compile_blocks,
            checkpoint_every=checkpoint_every,
            sample_every=sample_every, threads=threads, deterministic=deterministic or None,
            init=str(init) if init else None,
            layout_dropout=layout_dropout, object_weight=object_weight, input_pool=input_pool,
        )  # fmt: skip
        trainer = DiTTrainer(config, info)
        if resume:
            trainer.resume()
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from None
    on_sample = None
    if config.sample_every:
        from sorakit.train.samples import sample_during_training as on_sample
    with StopOnSignal(stop_after) as stop, progress_bar(disable=not info.main) as bar:
        task = bar.add_task("training", total=config.steps, completed=trainer.step)

        def on_step(log) -> None:
            text = f"training  loss {log.loss:.4f}  lr {log.lr:.1e}"
            bar.update(task, completed=log.step, description=text)
            if info.main and not console.is_terminal and log.step % 50 == 0:
                console.print(f"step {log.step}: {text}", highlight=False)

        result = trainer.run(on_step, on_sample, stop)
    step, run_dir = trainer.step, trainer.out
    del trainer  # its sharded model's pending work goes before the process group does
    shutdown_distributed()
    if result.stopped_early:
        report_stopped_early(step, run_dir, stop_after, show=info.main)
    if info.main:
        print(result.model_dir)


def _per_kind(text: str, option: str) -> dict[str, float]:
    """'spatial=0.2,temporal=0.5' -> {"spatial": 0.2, "temporal": 0.5}; checked by the config."""
    try:
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        return {kind.strip(): float(value) for kind, value in pairs}
    except ValueError:
        raise typer.BadParameter(f"{option} {text!r}: give KIND=VALUE[,KIND=VALUE]") from None


def _refiners_from(**paths: Path | None) -> dict:
    """kind -> refiner loaded from each path given."""
    from sorakit.models.dit import DiT

    return {kind: DiT.from_pretrained(p) for kind, p in paths.items() if p is not None}


def build_model(
    vae: Path = typer.Option(..., "--vae", help="A saved VAE folder (train-vae's OUT/model)."),
    transformer: Path = typer.Option(
        ..., "--transformer", help="A saved transformer folder (train's OUT/model)."
    ),
    out: Path = typer.Option(..., "--out", help="The model folder to write."),
    text_encoder: str = typer.Option("minilm", "--text-encoder", help="As used in preprocess."),
    width: int = typer.Option(64, "--width", help="Default width of generate."),
    height: int = typer.Option(64, "--height", help="Default height of generate."),
    frames: int = typer.Option(17, "--frames", help="Default frame count of generate."),
    fps: float = typer.Option(
        8.0, "--fps", help="Default frame rate of generate.", callback=finite
    ),
    steps: int = typer.Option(30, "--steps", help="Default sampler steps."),
    guidance: float = typer.Option(
        4.0, "--guidance", help="Default guidance scale.", callback=finite
    ),
    guidance_interval: str = typer.Option(
        "0,1", "--guidance-interval", help="Default guidance interval LO,HI (generate --help)."
    ),
    plan_guidance_interval: str = typer.Option(
        None,
        "--plan-guidance-interval",
        help="Default guidance interval LO,HI when a plan is rendered (default: as without).",
    ),
    shape_contrast: float = typer.Option(
        0.0,
        "--shape-contrast",
        min=0.0,
        help="Default shape contrast of planned generation (generate --help); 0: off.",
        callback=finite,
    ),
    shape_contrast_interval: str = typer.Option(
        "0,1",
        "--shape-contrast-interval",
        help="LO,HI: the sampler times t where shape contrast applies (t = 1 is pure noise).",
    ),
    recipe: str = typer.Option("", "--recipe", help="How it was trained (kept in pipeline.json)."),
    spatial_refiner: Path = typer.Option(
        None, "--spatial-refiner", help="A trained spatial refiner (train --preset world-refiner)."
    ),
    temporal_refiner: Path = typer.Option(
        None, "--temporal-refiner", help="A trained temporal refiner."
    ),
    spatial_text_only: Path = typer.Option(
        None,
        "--spatial-refiner-text-only",
        help="A spatial refiner that runs instead of --spatial-refiner when there is no plan "
        "(text-only prompts, upscale): for a --spatial-refiner that reads plans.",
    ),
    temporal_text_only: Path = typer.Option(
        None,
        "--temporal-refiner-text-only",
        help="A temporal refiner that runs instead of --temporal-refiner when there is no plan "
        "(text-only prompts, interpolate).",
    ),
    refiner_strength: str = typer.Option(
        "",
        "--refiner-strength",
        help="Where refiners start, KIND=T[,KIND=T] (e.g. spatial=0.2): from their own input "
        "noised to time T (SDEdit) instead of from pure noise (T = 1, the default).",
    ),
    refiner_aug: str = typer.Option(
        "",
        "--refiner-aug",
        help="Noise mixed into refiners' input when sampling, KIND=A[,KIND=A] (default 0.1; "
        "trained on 0 to 0.5): higher trusts the input less, and the plan more.",
    ),
) -> None:
    """Put a trained VAE and transformer (and the cascade's refiners, if trained) together into
    a model folder for `generate` and `eval world --model`. The world's vocabulary goes in, so
    prompts with other words warn."""
    from sorakit.models.dit import DiT
    from sorakit.models.text import TextEncoder
    from sorakit.models.vae import CausalVAE
    from sorakit.pipeline import PipelineConfig, TextToVideoPipeline
    from sorakit.world.vocab import vocabulary

    try:
        parts = CausalVAE.from_pretrained(vae), DiT.from_pretrained(transformer)
        encoder = TextEncoder.from_pretrained(text_encoder)
        refiners = _refiners_from(spatial=spatial_refiner, temporal=temporal_refiner)
        text_only = _refiners_from(spatial=spatial_text_only, temporal=temporal_text_only)
        config = PipelineConfig(
            text_encoder=text_encoder, width=width, height=height, frames=frames, fps=fps,
            steps=steps, guidance=guidance, guidance_interval=parse_interval(guidance_interval),
            plan_guidance_interval=parse_interval(
                plan_guidance_interval, "--plan-guidance-interval"),
            shape_contrast=shape_contrast,
            shape_contrast_interval=parse_interval(
                shape_contrast_interval, "--shape-contrast-interval"),
            vocabulary=vocabulary(),
            refiner_strength=_per_kind(refiner_strength, "--refiner-strength"),
            refiner_aug=_per_kind(refiner_aug, "--refiner-aug"),
            training={"recipe": recipe} if recipe else {},
        )  # fmt: skip
        pipe = TextToVideoPipeline(
            *parts, encoder, config, refiners=refiners, text_only_refiners=text_only
        )
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from None
    pipe.save_pretrained(out)
    print(out)
