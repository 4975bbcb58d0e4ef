"""Training the diffusion transformer with rectified flow on cached latents.

Each step draws a batch (clips of one latent shape and frame rate, or a packed sequence of any
shapes), and for every clip: a flow time from a logit-normal shifted by the clip's token count,
noise, caption dropout to the empty caption (for classifier-free guidance), and, for some
videos, given latent frames kept clean at t = 0 (a prefix, a suffix or both) so the same model
learns image-to-video, extension, loops and transitions. The loss is the velocity error on the
noisy tokens, averaged per clip, then over clips.

All randomness of a clip at a step comes from a generator seeded by (seed, step, clip index),
so a resumed run, and a run split over any number of processes with the same global batch,
sees exactly the same noise.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange

from sorakit.data.layout import object_cover, spread_kind_weights
from sorakit.device import autocast, resolve_device, resolve_dtype
from sorakit.diffusion import interpolate, sample_timesteps, shift_for_tokens, velocity_target
from sorakit.models.dit import DIT_PRESETS, DiT, DiTConfig
from sorakit.models.tokens import Sample, pack, patchify, per_token, stack, token_grid
from sorakit.train.checkpoint import (
    TrainingState,
    changed_settings,
    latest_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from sorakit.train.latents import (
    REFINER_INPUTS,
    LatentDataset,
    PackedBatchSampler,
    latent_batch_sampler,
)
from sorakit.train.logs import summary_writer
from sorakit.train.parallel import (
    DistInfo,
    apply_block_options,
    full_state,
    full_tensor,
    load_full_state,
    local_tensor,
    mean_over_ranks,
    parallelize,
    unwrap,
)
from sorakit.train.presets import from_preset
from sorakit.train.runtime import set_threads
from sorakit.train.schedule import check_decay, learning_rate
from sorakit.train.stop import StopOnSignal

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainDiTConfig:
    data: str = ""  # a latent cache folder (`sorakit preprocess`)
    out: str = ""
    model: str = "world"  # a DIT_PRESETS name
    batch_size: int = 32  # clips per step over all processes (bucketed batching)
    pack_tokens: int = 0  # > 0: packed sequences of up to this many tokens per process
    steps: int = 10000
    lr: float = 6e-4
    warmup: int = 200
    lr_decay: str = "constant"  # after warm-up: constant or cosine (`sorakit.train.schedule`)
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    grad_accum: int = 1
    ema_decay: float = 0.999
    caption_dropout: float = 0.1
    cond_prob: float = 0.25  # chance that a video keeps some latent frames clean and given
    layout_dropout: float = 0.5  # chance a clip trains without its layout (layout models only)
    # Loss weight added to tokens that objects cover (by the clip's annotation, before any
    # layout dropout, for layout models and refiners alike; 0: every token alike). Objects are
    # a few percent of the tokens, and their colours are what overshot (BENCHMARKS.md).
    object_weight: float = 0.0
    aug_max: float = 0.5  # refiners: the base latent is noised to a level drawn from [0, aug_max]
    # Layout refiners: chance that a clip keeping its layout has its base latent first lose its
    # spatial detail (averaged over blocks of `input_pool_cells` latent cells, then spread
    # back). A base at half size blurs small shapes that the exact low version keeps; a refiner
    # trained on such inputs learns to take shapes and places from the plan, not the blur.
    input_pool: float = 0.0
    input_pool_cells: int = 4
    init: str = ""  # a transformer folder to start from (new layers, e.g. layout, start at zero)
    time_mean: float = 0.0  # logit-normal location of the training times
    time_std: float = 1.0
    bf16: bool = False  # the same as dtype "bf16" (the older flag, kept for saved configs)
    device: str = "cpu"  # auto, cpu, cuda, cuda:N or mps; under torchrun, each rank's own GPU
    checkpoint_activations: bool = False  # recompute each block's activations in backward
    compile: bool = False  # torch.compile each transformer block
    dtype: str = "fp32"  # compute precision: fp32, or bf16 / fp16 autocast (fp16 with a scaler)
    parallel: str = "none"  # none, ddp or fsdp (under torchrun)
    checkpoint_every: int = 250
    sample_every: int = 0  # steps between sample videos (0: none); needs the cache's VAE
    seed: int = 0
    threads: int | None = None
    deterministic: bool = False  # one thread, deterministic kernels: bit-identical runs

    def __post_init__(self) -> None:
        check_decay(self.lr_decay)
        if not 0.0 <= self.input_pool <= 1.0:
            raise ValueError(f"input pool is a chance in [0, 1], got {self.input_pool}")
        if self.input_pool_cells < 1:
            raise ValueError(f"input pool cells must be at least 1, got {self.input_pool_cells}")


TRAIN_DIT_PRESETS: dict[str, TrainDiTConfig] = {
    # Seconds on a laptop CPU: for tests and smoke runs.
    "tiny": TrainDiTConfig(model="tiny", batch_size=4, steps=20, warmup=5, checkpoint_every=10),
    # The default model on world clips: packed sequences of 2048 tokens (about six 17-frame
    # clips, or 32 images), the budget of a 2-core CPU.
    "world": TrainDiTConfig(model="world", pack_tokens=2048, steps=4000),
    # Refiners (on a cache made with `preprocess --refiner`): no given frames, the base latent
    # is their conditioning.
    "tiny-refiner": TrainDiTConfig(
        model="tiny-refiner", batch_size=4, steps=20, warmup=5, checkpoint_every=10, cond_prob=0.0
    ),
    "world-refiner": TrainDiTConfig(
        model="world-refiner", pack_tokens=2048, steps=2000, cond_prob=0.0
    ),
}


def make_config(preset: str, **overrides) -> TrainDiTConfig:
    return from_preset(TRAIN_DIT_PRESETS, preset, DIT_PRESETS, overrides)


@dataclass
class StepLog:
    step: int
    loss: float
    lr: float
    grad_norm: float


@dataclass
class TrainResult:
    logs: list[StepLog] = field(default_factory=list)
    model_dir: Path | None = None  # None when stopped early: only the checkpoint was written
    stopped_early: bool = False


def clip_generator(seed: int, step: int, index: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 1_000_033 + index)


def given_frames(frames: int, g: torch.Generator, prob: float) -> torch.Tensor:
    """(frames,) bool: latent frames given clean this time. With probability `prob` a video
    gets a prefix (image-to-video, extend forward), a suffix (extend backward) or both (loops,
    transitions) of 1 to frames - 1 frames; images never."""
    given = torch.zeros(frames, dtype=torch.bool)
    if frames < 2 or torch.rand((), generator=g) >= prob:
        return given
    kind = int(torch.randint(3, (), generator=g))
    if kind == 2 and frames >= 3:
        given[0] = given[-1] = True
        return given
    k = int(torch.randint(1, frames, (), generator=g))
    if kind == 0:
        given[:k] = True
    else:
        given[-k:] = True
    return given


def make_training_sample(
    latent: torch.Tensor,
    text: torch.Tensor,
    null_text: torch.Tensor,
    fps: float,
    cfg: TrainDiTConfig,
    model_cfg: DiTConfig,
    g: torch.Generator,
    layout: torch.Tensor | None = None,
    low: torch.Tensor | None = None,
) -> tuple[Sample, torch.Tensor, torch.Tensor]:
    """A noised clip, its velocity target (C, T, H, W) and its loss mask per latent frame.
    `layout` (its layout map) is dropped to the empty map with `cfg.layout_dropout`; `low`
    (a refiner's base latent, on the clip's grid) is noised to a random level, and first
    blurred (`pool_space`) with chance `cfg.input_pool` where the layout stays."""
    frames = latent.shape[1]
    grid = token_grid(tuple(latent.shape[1:]), model_cfg.patch_size)
    shift = shift_for_tokens(grid[0] * grid[1] * grid[2])
    t = sample_timesteps(1, shift, cfg.time_mean, cfg.time_std, generator=g)[0]
    noise = torch.randn(latent.shape, generator=g)
    given = given_frames(frames, g, cfg.cond_prob)
    t_frames = torch.where(given, torch.zeros(()), t)  # (T,)
    x_t = interpolate(latent, noise, t_frames[None, :, None, None])
    if torch.rand((), generator=g) < cfg.caption_dropout:
        text = null_text
    dropped = layout is not None and torch.rand((), generator=g) < cfg.layout_dropout
    if dropped:
        layout = torch.zeros_like(layout)
    kept = layout is not None and not dropped
    cond, aug = None, 0.0
    if low is not None:
        # Blurred only where the plan can say what the blur removed: without a layout the
        # refiner keeps learning to trust its input (text-only generation, `upscale` on a
        # user's video).
        if kept and cfg.input_pool and torch.rand((), generator=g) < cfg.input_pool:
            low = pool_space(low, cfg.input_pool_cells)
        cond, aug = augmented_base(low, tuple(latent.shape[1:]), cfg.aug_max, g)
    sample = Sample(x_t, t_frames, fps, text, layout, cond, aug)
    return sample, velocity_target(latent, noise), ~given


def token_cover(layout: torch.Tensor, model_cfg: DiTConfig) -> torch.Tensor:
    """(N,): the largest object coverage of each token's latent cells, from a clip's layout map
    (the undropped one, so that the weight holds whether or not the model's input keeps it)."""
    cover = object_cover(layout, model_cfg.layout_frames)  # (T, H, W)
    return patchify(cover[None, None], model_cfg.patch_size)[0].amax(-1)


def pool_space(latent: torch.Tensor, cells: int) -> torch.Tensor:
    """(C, T, H, W) -> the same shape, each frame averaged over blocks of `cells` x `cells`
    (a partial block at an edge over what it holds) and spread back bilinearly: colours and
    places stay, detail smaller than a block is gone."""
    _, _, height, width = latent.shape
    frames = rearrange(latent, "c t h w -> t c h w")
    pooled = F.avg_pool2d(frames, cells, ceil_mode=True)
    smooth = F.interpolate(pooled, size=(height, width), mode="bilinear", align_corners=False)
    return rearrange(smooth, "t c h w -> c t h w")


def augmented_base(
    low: torch.Tensor, shape: tuple[int, int, int], aug_max: float, g: torch.Generator
) -> tuple[torch.Tensor, float]:
    """A refiner's input in training: the low version's latent (C, T, H, W), already on the
    clip's grid `shape`, noised to a level drawn from [0, aug_max] (noise augmentation, as in
    cascaded diffusion: the refiner learns not to trust its input more than a real base output
    deserves)."""
    if tuple(low.shape[1:]) != tuple(shape):
        raise ValueError(f"refiner input of shape {tuple(low.shape[1:])} for a clip of {shape}")
    aug = float(torch.rand((), generator=g)) * aug_max
    return interpolate(low, torch.randn(low.shape, generator=g), aug), aug


class DiTTrainer:
    """Owns the model, EMA, optimizer and data of one run; `run()` trains to `config.steps`."""

    def __init__(self, config: TrainDiTConfig, info: DistInfo | None = None):
        self.config = config
        if not config.data or not config.out:
            raise ValueError("a training run needs its data and out folders")
        self.info = info or DistInfo()
        set_threads(config.threads, config.deterministic)
        self.device = self.info.device if self.info.world_size > 1 else config.device
        self.device = resolve_device(self.device)
        self.dtype = torch.bfloat16 if config.bf16 else resolve_dtype(config.dtype)
        self.data = LatentDataset(config.data)
        base = DIT_PRESETS[config.model]
        self.model_config = DiTConfig(
            **{
                **asdict(base),
                "in_channels": self.data.meta["latent_channels"],
                "text_dim": self.data.meta["text_dim"],
                "cond_channels": self.data.meta["latent_channels"] if base.cond_channels else 0,
            }
        )
        if base.cond_channels and not self.data.meta.get("refiner"):
            raise ValueError(
                f"{config.data}: a refiner trains on a cache of pairs (preprocess --refiner)"
            )
        kind = self.data.meta.get("refiner")
        if base.cond_channels and self.data.meta.get("refiner_input") != REFINER_INPUTS[kind]:
            raise ValueError(
                f"{config.data}: its refiner inputs were made the old way (latents upsampled, or "
                f"frames blended), not as the pipeline makes them now ({REFINER_INPUTS[kind]}); "
                f"run preprocess --refiner {kind} again"
            )
        if config.input_pool and not (base.cond_channels and base.layout_channels):
            raise ValueError(
                f"input pool blurs a refiner's input for the plan to fill in: model "
                f"{config.model!r} is not a refiner that reads the layout"
            )
        torch.manual_seed(config.seed)  # the same initial weights on every rank
        self.model = DiT(self.model_config)
        if config.init:
            _init_from(self.model, config.init)
        self.model.to(self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        apply_block_options(self.model, config.checkpoint_activations, config.compile)
        self.net = parallelize(self.model, config.parallel, self.info, self.dtype)
        if config.parallel == "fsdp":  # shard the EMA alike, so each rank averages its shards
            parallelize(self.ema, "fsdp", self.info)
        self.opt = torch.optim.AdamW(
            self.net.parameters(), lr=config.lr, betas=(0.9, 0.99), weight_decay=config.weight_decay
        )
        # fp16 needs its loss scaled; for other precisions the scaler passes everything through.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
        self.sampler = self._make_sampler()
        self.null_text = self.data.text.batch([""])[0][0]
        self.out = Path(config.out)
        self.step = 0
        self.data_position = {"epoch": 0, "batches_yielded": 0}

    def _make_sampler(self):
        cfg = self.config
        if cfg.pack_tokens:
            counts = [self._tokens(row.shape) for row in self.data.rows]
            # Each rank packs from its own seed: packs are per process.
            return PackedBatchSampler(counts, cfg.pack_tokens, seed=cfg.seed + self.info.rank)
        if cfg.batch_size % self.info.world_size:
            raise ValueError(
                f"batch size {cfg.batch_size} must divide over {self.info.world_size} processes"
            )
        per_rank = cfg.batch_size // self.info.world_size
        return latent_batch_sampler(
            self.data, per_rank, cfg.seed, self.info.rank, self.info.world_size
        )

    def _tokens(self, shape) -> int:
        grid = token_grid(tuple(shape[1:]), self.model_config.patch_size)
        return grid[0] * grid[1] * grid[2]

    # --- one step ---
    def loss(self, indices: list[int], step: int) -> torch.Tensor:
        """Mean over clips of each clip's mean squared velocity error on its noisy frames
        (tokens weighted by `object_weight` where objects are)."""
        cfg, mcfg = self.config, self.model_config
        samples, targets, masks = [], [], []
        for index in indices:
            latent, row = self.data[index]
            text = self.data.text.batch([row.caption])[0][0]
            g = clip_generator(cfg.seed, step, index)
            layout = self.data.layout(index, **mcfg.layout_format) if mcfg.layout_channels else None
            low = self.data.low(index) if mcfg.cond_channels else None
            s, target, mask = make_training_sample(
                latent, text, self.null_text, row.fps, cfg, mcfg, g, layout, low
            )
            samples.append(s)
            targets.append(patchify(target[None], mcfg.patch_size)[0])  # (N_i, P)
            grid = token_grid(tuple(latent.shape[1:]), mcfg.patch_size)
            weight = per_token(mask, grid, mcfg.patch_size).float()
            if cfg.object_weight:
                # A model without layout input (a refiner) still has its clips' annotations.
                cover = (
                    layout if layout is not None else self.data.layout(index, **mcfg.layout_format)
                )
                weight = weight * (1 + cfg.object_weight * token_cover(cover, mcfg))
            masks.append(weight)
        packed = bool(cfg.pack_tokens)
        # Clips are drawn on the host (their noise from per-clip generators, the same on every
        # device), then moved to the model's device in one go.
        batch = (pack if packed else stack)(samples, mcfg.patch_size, mcfg.ref_fps)
        batch = batch.to(self.device, non_blocking=True)
        targets = [t.to(self.device, non_blocking=True) for t in targets]
        masks = [m.to(self.device, non_blocking=True) for m in masks]
        with autocast(self.device, self.dtype):
            pred = self.net(batch).float()
        pred = list(pred[0].split([t.shape[0] for t in targets])) if packed else list(pred)
        per_clip = []
        for p, target, mask in zip(pred, targets, masks, strict=True):
            err = (p - target).pow(2).mean(-1)  # (N_i,)
            per_clip.append((err * mask).sum() / mask.sum().clamp_min(1))
        return torch.stack(per_clip).mean()

    def lr_at(self, step: int) -> float:
        cfg = self.config
        return learning_rate(step, cfg.lr, cfg.warmup, cfg.steps, cfg.lr_decay)

    def train_step(self, batches: list[list[int]]) -> StepLog:
        """One optimizer step over `grad_accum` batches."""
        self.net.train()
        lr = self.lr_at(self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        total = torch.zeros((), device=self.device)
        for batch in batches:
            loss = self.loss(batch, self.step) / len(batches)
            self.scaler.scale(loss).backward()
            total += loss.detach()
        self.scaler.unscale_(self.opt)
        norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.config.grad_clip)
        self.scaler.step(self.opt)  # (fp16 only: the scaler reads its inf check back)
        self.scaler.update()
        self.opt.zero_grad(set_to_none=True)
        self._update_ema()
        self.step += 1
        # The step's one read back to the host, for its log line, after all its work is queued.
        loss_value, norm_value = torch.stack([total, full_tensor(norm).float()]).tolist()
        return StepLog(self.step, mean_over_ranks(loss_value, self.info), lr, norm_value)

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        ema = [local_tensor(p) for p in self.ema.parameters()]
        live = [local_tensor(p).detach() for p in self.model.parameters()]
        torch._foreach_lerp_(ema, live, 1 - decay)

    # --- checkpoints ---
    def save(self) -> Path | None:
        weights, optim = full_state(self.net, self.opt)
        ema = {k: full_tensor(v).detach().cpu() for k, v in self.ema.state_dict().items()}
        if not self.info.main:
            return None
        return save_checkpoint(
            self.out / "checkpoints",
            TrainingState(self.step, dict(self.data_position), {}),
            {"model": weights, "ema": ema},
            {"model": optim},
            asdict(self.config),
        )

    def resume(self) -> bool:
        """Load the newest complete checkpoint, if any; True if training resumed."""
        folder = latest_checkpoint(self.out / "checkpoints")
        if folder is None:
            return False
        state, saved, modules, optims = read_checkpoint(folder, ["model", "ema"], ["model"])
        for line in changed_settings(folder, saved, asdict(self.config), fixed=("model",)):
            logger.warning("resuming with a changed setting, %s", line)
        load_full_state(self.net, self.opt, modules["model"], optims["model"])
        _load_into(self.ema, modules["ema"])
        self.step, self.data_position = state.step, dict(state.data)
        self.sampler.load_state_dict(self.data_position)
        logger.info("resumed from %s (step %d)", folder, self.step)
        return True

    # --- the loop ---
    def batches(self):
        """Batches forever from the saved data position; tracks the position."""
        while True:
            epoch, done = self.sampler.epoch, self.sampler.batches_yielded
            for batch in self.sampler:
                done = self.sampler.batches_yielded
                self.data_position = {"epoch": epoch, "batches_yielded": done}
                yield batch
            self.data_position = {"epoch": epoch + 1, "batches_yielded": 0}

    def run(
        self,
        on_step: Callable[[StepLog], None] | None = None,
        on_sample: Callable[[DiTTrainer], None] | None = None,
        stop: StopOnSignal | None = None,
    ) -> TrainResult:
        """Train to `config.steps` and save `OUT/model`; with `stop`, a signal ends the run
        early at a step boundary, with a checkpoint of that step and no `OUT/model`."""
        result = TrainResult()
        cfg = self.config
        writer = (
            summary_writer(self.out / "logs", purge_step=self.step + 1 if self.step else None)
            if self.info.main
            else None
        )
        stream = self.batches()
        while self.step < cfg.steps:
            log = self.train_step([next(stream) for _ in range(cfg.grad_accum)])
            result.logs.append(log)
            if writer is not None:
                for key in ("loss", "lr", "grad_norm"):
                    writer.add_scalar(f"train/{key}", getattr(log, key), log.step)
            if on_step is not None:
                on_step(log)
            if stop is not None and stop.requested(self.info, self.step):
                result.stopped_early = True
                self.save()
                break
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save()
            if on_sample and cfg.sample_every and self.step % cfg.sample_every == 0:
                on_sample(self)
        if writer is not None:
            writer.close()
        if not result.stopped_early:
            result.model_dir = self.finish()
        return result

    def finish(self) -> Path | None:
        """Save the EMA weights as the trained transformer (`OUT/model`)."""
        ema = {k: full_tensor(v).detach().cpu() for k, v in self.ema.state_dict().items()}
        if not self.info.main:
            return None
        folder = self.out / "model"
        unwrap(self.model).save_pretrained(folder, state_dict=ema)
        return folder


def _init_from(model: DiT, folder: str) -> None:
    """Start from a trained transformer's weights; layers it lacks (e.g. the layout input
    added to a text-only model) keep their zero initialisation."""
    trained = DiT.from_pretrained(folder)
    mine, theirs = asdict(model.config), asdict(trained.config)
    # Extra inputs may differ: a refiner from a base, a layout model from a text-only one.
    inputs = (
        "layout_channels", "layout_frames", "layout_fill", "layout_kind_frames", "cond_channels"
    )  # fmt: skip
    differ = {k for k in mine if mine[k] != theirs[k] and k not in inputs}
    if differ:
        raise ValueError(f"--init {folder}: its config differs in {sorted(differ)}")
    state = {k: v for k, v in trained.state_dict().items() if k in model.state_dict()}
    if "layout_embed.weight" in state:
        state["layout_embed.weight"] = _layout_weight(
            state["layout_embed.weight"], trained.config, model.config, folder
        )
    missing, _ = model.load_state_dict(state, strict=False)
    logger.info("started from %s; new layers: %s", folder, missing or "none")


def _layout_weight(
    weight: torch.Tensor, theirs: DiTConfig, mine: DiTConfig, folder: str
) -> torch.Tensor:
    """The trained layout embedding, for this model's layout format: as it is, or spread from
    averaged colour and shape channels to per-frame ones (same outputs at the start)."""
    if theirs.layout_channels == mine.layout_channels:
        return weight
    if (theirs.layout_frames, theirs.layout_kind_frames) == (mine.layout_frames, 1):
        return spread_kind_weights(weight, mine.layout_frames, mine.layout_kind_frames)
    raise ValueError(
        f"--init {folder}: its layout has {theirs.layout_channels} channels, this model's "
        f"{mine.layout_channels}; only averaged colour and shape channels can become per-frame ones"
    )


def _load_into(module: torch.nn.Module, full: dict[str, torch.Tensor]) -> None:
    """Copy full tensors into a module whose parameters may be sharded DTensors."""
    with torch.no_grad():
        for name, p in module.state_dict().items():
            if hasattr(p, "device_mesh"):
                from torch.distributed.tensor import distribute_tensor

                p.copy_(distribute_tensor(full[name].to(p.dtype), p.device_mesh, p.placements))
            else:
                p.copy_(full[name])
