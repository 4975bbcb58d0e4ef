"""A few-step sampler with guidance built in: the transformer distilled into a flow map.

The teacher is a model folder's transformer run the way `generate` runs it: the full guided
Euler sampler (classifier-free guidance in its interval, planned or not, and shape contrast) on
the world's training captions, planned where the planner understands them, text only for a
share, and with a given first frame (image-to-video) for another. Each of its trajectories is
kept at every `KEEP_EVERY`-th time of its grid (`make_trajectories`).

The student is the same transformer reading one more input, each step's size d
(`DiTConfig.step_input`), started from the teacher's weights. It learns the teacher's flow map:
for kept times t > r of one trajectory, the average velocity (x_t - x_r) / (t - r) that jumps
from x_t to x_r in one pass. Half the pairs are the steps a 1-, 2- or 4-step sampler takes, half
any pair, so edits starting part-way and other step counts land on trained ground. This is
distillation by regression on the teacher's own trajectories (Luhman & Luhman 2021, with the
step size as input as in shortcut models); it needs no second network, no discriminator and no
Jacobian-vector products, and the teacher's guided velocity is the target, so one pass replaces
the conditional and unconditional pair.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from sorakit.data.layout import plan_layout
from sorakit.device import autocast, resolve_dtype
from sorakit.diffusion import flow_map_sample, shift_for_tokens
from sorakit.diffusion.denoise import generate_latents, time_grid
from sorakit.fileio import atomic_write
from sorakit.models.dit import DiT
from sorakit.models.tokens import Sample, pad_captions, patchify, stack, to_latents, token_grid
from sorakit.pipeline.blocks import encode_text, latent_frames
from sorakit.pipeline.pipeline import DEFAULT_MODEL, TextToVideoPipeline
from sorakit.train.checkpoint import (
    TrainingState,
    latest_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from sorakit.train.runtime import set_threads
from sorakit.train.schedule import check_decay, learning_rate
from sorakit.train.stop import StopOnSignal
from sorakit.world.captions import make_caption
from sorakit.world.sampling import sample_scene

logger = logging.getLogger(__name__)

TEACHER_STEPS = 32  # the teacher's Euler grid: a multiple of every student step count below
KEEP_EVERY = 2  # kept times: every other one of the teacher's grid (17 of 33)
STUDENT_STEPS = (1, 2, 4)  # the step counts the distilled sampler is trained for
KINDS = ("planned", "text", "image")  # how a trajectory is conditioned
META_NAME = "trajectories.json"


@dataclass(frozen=True, kw_only=True)
class TrajectoryConfig:
    model: str = "default"  # the teacher's model folder
    out: str = ""
    num: int = 1200  # trajectories
    seed: int = 50_000  # scene seeds seed, seed + 1, ...: not the evaluation's
    batch: int = 16  # trajectories sampled side by side
    width: int = 64
    height: int = 64
    frames: int = 17
    fps: float = 8.0
    # The share of each kind (planned, text only, image-to-video). A planned batch drops the
    # prompts the planner cannot place (and runs text only if it can place none).
    shares: tuple[float, float, float] = (0.55, 0.30, 0.15)
    threads: int | None = None


def _kind(seed: int, shares: tuple[float, float, float]) -> str:
    u = np.random.default_rng([seed, 7]).random()
    edges = np.cumsum(shares) / sum(shares)
    return KINDS[int(np.searchsorted(edges, u, side="right"))]


def _latent_grid(pipe: TextToVideoPipeline, cfg: TrajectoryConfig) -> tuple[int, int, int]:
    """The latent (T, H, W) of the trajectories' clips."""
    sf = pipe.vae.spatial_factor
    return latent_frames(cfg.frames, pipe.vae.temporal_factor), cfg.height // sf, cfg.width // sf


def _caption(seed: int) -> str:
    scene, trajectory = sample_scene(seed)
    return make_caption(scene, trajectory, seed, "train")


@torch.no_grad()
def _shard(
    pipe: TextToVideoPipeline, cfg: TrajectoryConfig, seeds: list[int], kind: str,
    first: torch.Tensor | None,
) -> tuple[dict[str, torch.Tensor], list[str]]:  # fmt: skip
    """One batch of trajectories of one kind (`first`: given first latent frames, for image)
    and their prompts."""
    c, tf = pipe.config, pipe.vae.temporal_factor
    fmt = pipe.transformer.config.layout_format
    lat = _latent_grid(pipe, cfg)
    captions = {seed: _caption(seed) for seed in seeds}
    kept, layouts, swapped = list(seeds), [], []
    if kind == "planned":
        plans = {seed: pipe.planner.auto_plan(captions[seed], cfg.width, cfg.height, cfg.fps,
                                              cfg.frames, seed) for seed in seeds}  # fmt: skip
        if any(plans.values()):  # else the whole batch goes text only
            kept = [seed for seed in seeds if plans[seed] is not None]
            layouts = [plan_layout(plans[s], fmt, lat, cfg.fps, tf)[0] for s in kept]
            swapped = [plan_layout(plans[s], fmt, lat, cfg.fps, tf, contrast=True)[0] for s in kept]
    prompts = [captions[seed] for seed in kept]
    shape = (pipe.vae.latent_channels, *lat)
    noise = torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(s))
                         for s in kept])  # fmt: skip
    given = mask = None
    if first is not None:
        given = torch.zeros_like(noise)
        given[:, :, :1] = first[torch.arange(len(kept)) % len(first)]
        mask = torch.zeros(lat[0], dtype=torch.bool)
        mask[0] = True
    planned = bool(layouts)
    interval = c.guidance_interval
    if planned and c.plan_guidance_interval:
        interval = c.plan_guidance_interval
    states: list[torch.Tensor] = []
    texts = encode_text(pipe.text_encoder, prompts)
    generate_latents(
        pipe.transformer, noise, texts, encode_text(pipe.text_encoder, [""] * len(kept)),
        cfg.fps, steps=TEACHER_STEPS, guidance=c.guidance, guidance_interval=interval,
        given=given, given_frames=mask, layout=torch.stack(layouts) if planned else None,
        contrast_layout=torch.stack(swapped) if planned and c.shape_contrast else None,
        contrast=c.shape_contrast, contrast_interval=c.shape_contrast_interval, states=states,
    )  # fmt: skip
    text, seq = pad_captions(texts)
    out = {
        "states": torch.stack(states[::KEEP_EVERY], dim=1).contiguous(),  # (B, K, C, T, H, W)
        "text": text.contiguous(),
        "text_len": (seq >= 0).sum(1),
        "seed": torch.tensor(kept),
        "given": torch.full((len(kept),), 0 if first is None else 1),
    }
    if planned:
        out["layout"] = torch.stack(layouts).contiguous()
    return out, prompts


def kept_times(shift: float) -> torch.Tensor:
    """The times the trajectories are kept at: every KEEP_EVERY-th of the teacher's grid."""
    return time_grid(TEACHER_STEPS, shift)[::KEEP_EVERY].clone()


def make_trajectories(
    cfg: TrajectoryConfig, on_shard: Callable[[int, int], None] | None = None
) -> Path:
    """Write the teacher's trajectories into `cfg.out` as safetensors shards of `cfg.batch`,
    each written atomically; shards already there are kept, so a stopped run continues."""
    set_threads(cfg.threads, False)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = TextToVideoPipeline.from_pretrained(None if cfg.model == "default" else cfg.model)
    shift = shift_for_tokens(math.prod(token_grid(_latent_grid(pipe, cfg),
                                                  pipe.transformer.config.patch_size)))
    seeds = list(range(cfg.seed, cfg.seed + cfg.num))
    by_kind = {k: [s for s in seeds if _kind(s, cfg.shares) == k] for k in KINDS}
    jobs = [(k, by_kind[k][i : i + cfg.batch]) for k in KINDS
            for i in range(0, len(by_kind[k]), cfg.batch)]  # fmt: skip
    firsts = None
    for index, (kind, batch) in enumerate(jobs):
        path = out / f"shard-{index:05d}.safetensors"
        if kind == "image" and firsts is None:
            # Given first frames: the first shard's own results (image jobs come last), so
            # they are frames this latent space holds.
            firsts = load_file(str(out / "shard-00000.safetensors"))["states"][:, -1, :, :1]
        if not path.exists():
            tensors, prompts = _shard(pipe, cfg, batch, kind, firsts if kind == "image" else None)
            info = {"kind": kind if "layout" in tensors or kind != "planned" else "text",
                    "prompts": json.dumps(prompts)}  # fmt: skip
            atomic_write(path, lambda p, t=tensors, m=info: save_file(t, str(p), metadata=m))
        if on_shard is not None:
            on_shard(index + 1, len(jobs))
    meta = {"config": asdict(cfg), "shift": shift, "times": kept_times(shift).tolist(),
            "teacher_steps": TEACHER_STEPS, "keep_every": KEEP_EVERY,
            "weights_sha256": pipe.weights_sha256, "shards": len(jobs)}  # fmt: skip
    atomic_write(out / META_NAME, lambda p: p.write_text(json.dumps(meta, indent=1)))
    return out


# --- the student ---
@dataclass(frozen=True, kw_only=True)
class DistillConfig:
    trajectories: str = ""
    out: str = ""
    init: str = "default"  # the teacher's model folder (its transformer starts the student)
    steps: int = 1500
    batch_size: int = 32
    lr: float = 1e-4
    warmup: int = 50
    lr_decay: str = "cosine"
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    grid_share: float = 0.5  # pairs that are a 1-, 2- or 4-step sampler's steps; the rest any
    held_out: int = 32  # trajectories kept out of training, for the sampling error in the log
    checkpoint_every: int = 100
    seed: int = 0
    dtype: str = "bf16"
    threads: int | None = None

    def __post_init__(self) -> None:
        check_decay(self.lr_decay)
        resolve_dtype(self.dtype)
        if not 0 <= self.grid_share <= 1:
            raise ValueError(f"grid_share must be in [0, 1], got {self.grid_share}")


def grid_pairs(kept: int, student_steps: tuple[int, ...] = STUDENT_STEPS) -> list[tuple[int, int]]:
    """(from, to) kept-time indices of every step of each student sampler."""
    pairs = []
    for n in student_steps:
        stride = (kept - 1) // n
        pairs += [(k * stride, (k + 1) * stride) for k in range(n)]
    return pairs


@dataclass
class Trajectories:
    """Every shard of a trajectories folder in memory."""

    states: torch.Tensor  # (N, K, C, T, H, W)
    times: torch.Tensor  # (K,) from 1 to 0
    text: list[torch.Tensor]  # per trajectory (L_i, D)
    layout: list[torch.Tensor | None]  # per trajectory (S, T, H, W), or None (text only)
    given: torch.Tensor  # (N,) given first latent frames
    fps: float

    @classmethod
    def load(cls, folder: str | Path) -> Trajectories:
        folder = Path(folder)
        meta = json.loads((folder / META_NAME).read_text())
        states, text, layout, given = [], [], [], []
        for index in range(meta["shards"]):
            shard = load_file(str(folder / f"shard-{index:05d}.safetensors"))
            states.append(shard["states"])
            given.append(shard["given"])
            for i, n in enumerate(shard["text_len"].tolist()):
                text.append(shard["text"][i, :n])
                layout.append(shard["layout"][i] if "layout" in shard else None)
        return cls(torch.cat(states), torch.tensor(meta["times"]), text, layout,
                   torch.cat(given), float(meta["config"]["fps"]))  # fmt: skip

    def __len__(self) -> int:
        return self.states.shape[0]

    def moving(self, n: int) -> torch.Tensor:
        """(T,) the latent frames of trajectory n that move (all but a given first frame)."""
        moving = torch.ones(self.states.shape[3], dtype=torch.bool)
        moving[: int(self.given[n])] = False
        return moving

    def condition(self, n: int, x: torch.Tensor, t: torch.Tensor, step: float) -> Sample:
        """The student's input for trajectory n: `x` at time t (given frames at t = 0), told
        the size of its step."""
        t_frames = torch.where(self.moving(n), t, torch.zeros(()))
        return Sample(x, t_frames, self.fps, self.text[n], self.layout[n], step=step)

    def sample(self, n: int, i: int, j: int) -> tuple[Sample, torch.Tensor, torch.Tensor]:
        """Trajectory n's pair (i, j): the student's input at kept time i (its step the way to
        j), the average velocity target, and the (T,) mask of frames that move."""
        t, r = self.times[i], self.times[j]
        x, target = self.states[n, i], (self.states[n, i] - self.states[n, j]) / (t - r)
        return self.condition(n, x, t, float(t - r)), target, self.moving(n)


def student_from(teacher: DiT) -> DiT:
    """The teacher's transformer with a step-size input, which starts at zero."""
    student = DiT(replace(teacher.config, step_input=True))
    missing, unexpected = student.load_state_dict(teacher.state_dict(), strict=False)
    if unexpected or any(not k.startswith("step_embed.") for k in missing):
        raise ValueError(f"not a transformer to distil: {missing or unexpected}")
    return student


@torch.no_grad()
def flow_map_error(model: DiT, data: Trajectories, indices: list[int], steps: int) -> float:
    """Mean squared error of the student's `steps`-step result against the teacher's, over the
    moving frames of trajectories `indices` (their first kept state as the noise)."""
    kept, cfg = data.states.shape[1], model.config
    times = data.times[:: (kept - 1) // steps]
    errs = []
    for n in indices:
        moving = data.moving(n)

        def jump(x: torch.Tensor, t: torch.Tensor, d: torch.Tensor, n: int = n,
                 moving: torch.Tensor = moving) -> torch.Tensor:  # fmt: skip
            batch = stack([data.condition(n, x, t, float(d))], cfg.patch_size, cfg.ref_fps)
            u = to_latents(batch, model(batch).float(), cfg.patch_size)[0]
            return torch.where(moving[None, :, None, None], u, 0)  # given frames do not move

        x = flow_map_sample(jump, data.states[n, 0], times)
        errs.append((x - data.states[n, -1]).pow(2)[:, moving].mean())
    return float(torch.stack(errs).mean())


class Distiller:
    """The student, its EMA, optimizer and trajectories; `run()` trains to `config.steps`."""

    def __init__(self, config: DistillConfig):
        if not config.trajectories or not config.out:
            raise ValueError("distilling needs its trajectories and out folders")
        self.config = config
        set_threads(config.threads, False)
        self.dtype = resolve_dtype(config.dtype)
        self.data = Trajectories.load(config.trajectories)
        if len(self.data) <= config.held_out:
            raise ValueError(f"{config.trajectories}: {len(self.data)} trajectories, fewer than "
                             f"the {config.held_out} held out")  # fmt: skip
        order = torch.randperm(len(self.data), generator=torch.Generator().manual_seed(1))
        self.held_out = order[: config.held_out].tolist()
        self.train_ids = order[config.held_out :]
        folder = DEFAULT_MODEL if config.init == "default" else Path(config.init)
        teacher = DiT.from_pretrained(folder / "transformer")
        torch.manual_seed(config.seed)
        self.model = student_from(teacher)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=config.lr, betas=(0.9, 0.99),
                                     weight_decay=config.weight_decay)  # fmt: skip
        self.pairs = grid_pairs(self.data.states.shape[1])
        self.out = Path(config.out)
        self.step = 0

    def draw(self, step: int) -> list[tuple[int, int, int]]:
        """The step's (trajectory, i, j) triples: a pure function of the seed and step, so a
        resumed run draws what the uninterrupted one would."""
        g = torch.Generator().manual_seed(self.config.seed * 1_000_003 + step)
        kept, out = self.data.states.shape[1], []
        for _ in range(self.config.batch_size):
            n = int(self.train_ids[int(torch.randint(len(self.train_ids), (), generator=g))])
            if float(torch.rand((), generator=g)) < self.config.grid_share:
                i, j = self.pairs[int(torch.randint(len(self.pairs), (), generator=g))]
            else:
                i, j = sorted(torch.randperm(kept, generator=g)[:2].tolist())
            out.append((n, i, j))
        return out

    def loss(self, triples: list[tuple[int, int, int]]) -> torch.Tensor:
        cfg = self.model.config
        drawn = [self.data.sample(*t) for t in triples]
        batch = stack([d[0] for d in drawn], cfg.patch_size, cfg.ref_fps)
        targets = torch.stack([patchify(d[1][None], cfg.patch_size)[0] for d in drawn])
        grid = token_grid(tuple(drawn[0][1].shape[1:]), cfg.patch_size)
        moving = torch.stack([d[2][:: cfg.patch_size[0]].repeat_interleave(grid[1] * grid[2])
                              for d in drawn]).float()  # fmt: skip
        with autocast(torch.device("cpu"), self.dtype):
            pred = self.model(batch).float()
        err = (pred - targets).pow(2).mean(-1)
        return ((err * moving).sum(1) / moving.sum(1)).mean()

    def train_step(self) -> float:
        cfg = self.config
        self.model.train()
        for group in self.opt.param_groups:
            group["lr"] = learning_rate(self.step, cfg.lr, cfg.warmup, cfg.steps, cfg.lr_decay)
        loss = self.loss(self.draw(self.step))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            decay = min(cfg.ema_decay, (1 + self.step) / (10 + self.step))
            live = [p.detach() for p in self.model.parameters()]
            torch._foreach_lerp_(list(self.ema.parameters()), live, 1 - decay)
        self.step += 1
        return float(loss.detach())

    @torch.no_grad()
    def sampling_errors(self) -> dict[int, float]:
        """The EMA student's error against the teacher at each trained step count, held out."""
        self.ema.eval()
        return {n: flow_map_error(self.ema, self.data, self.held_out, n) for n in STUDENT_STEPS}

    def save(self) -> Path:
        return save_checkpoint(
            self.out / "checkpoints", TrainingState(self.step, {}, {}),
            {"model": self.model, "ema": self.ema}, {"model": self.opt}, asdict(self.config),
        )  # fmt: skip

    def resume(self) -> bool:
        folder = latest_checkpoint(self.out / "checkpoints")
        if folder is None:
            return False
        state, _, modules, optims = read_checkpoint(folder, ["model", "ema"], ["model"])
        self.model.load_state_dict(modules["model"])
        self.ema.load_state_dict(modules["ema"])
        self.opt.load_state_dict(optims["model"])
        self.step = state.step
        logger.info("resumed from %s (step %d)", folder, self.step)
        return True

    def run(
        self, on_step: Callable[[int, float], None] | None = None,
        on_check: Callable[[int, dict[int, float]], None] | None = None,
        stop: StopOnSignal | None = None,
    ) -> Path | None:  # fmt: skip
        """Train to `config.steps`, checking the held-out sampling error at every checkpoint,
        and save the EMA student as `OUT/model`; None when a signal stopped it early."""
        cfg = self.config
        if on_check is not None and self.step == 0:
            on_check(0, self.sampling_errors())
        while self.step < cfg.steps:
            loss = self.train_step()
            if on_step is not None:
                on_step(self.step, loss)
            if stop is not None and stop.requested(step=self.step):
                self.save()
                return None
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save()
                if on_check is not None:
                    on_check(self.step, self.sampling_errors())
        folder = self.out / "model"
        self.ema.save_pretrained(folder)
        return folder
