"""Diffusion-transformer benchmarks, side by side in one run (ratios, not absolute times: these
machines are noisy). Each part alternates its contenders repeat by repeat and reports medians.

1. Training step: forward + backward + AdamW step of sorakit's DiT and of diffusers'
   WanTransformer3DModel built at the same hidden size, depth, heads, FFN size, text dim, patch
   size and latent channels (Wan's FFN is widened only if the parameter counts differ by more
   than 10%), on the same latents, times and captions; in fp32 and under bf16 autocast.
   Reports parameters, seconds per step, tokens/s and the throughput ratio sorakit/Wan.
2. Packing vs padding: a batch of world-like clips of mixed latent shapes through sorakit's DiT
   (forward + backward), padded (one clip a row, padded to the longest clip with seq = -1),
   packed (all clips in one sequence) and packed rows (clips packed first-fit into rows no
   longer than the longest clip, then padded). Useful tokens/s counts only real tokens; the
   FLOPs column shows the cost of each: masked attention is dense, so one long packed sequence
   pays for attention between all its tokens, most of it masked away.
3. MFU: this machine's matmul peak (square matmuls, 2 n^3 FLOPs each) in fp32 and bf16, the
   FLOPs of one training step counted with FlopCounterMode (forward + backward; the optimizer's
   few FLOPs are left out), and achieved FLOP/s / peak for the steps timed in part 1.

Usage: .venv/bin/python benchmarks/dit_bench.py [--quick] [--json out.json] [--preset world]
           [--threads N]
--quick is a seconds-long smoke run (tiny model and inputs, one repeat). On a machine whose
cores are busy with other work, pass --threads 1: OpenMP threads waiting on each other for a
busy core made small steps up to 100x slower here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from sorakit.models.dit import DIT_PRESETS, DiT, DiTConfig
from sorakit.models.tokens import Sample, TokenBatch, pack, stack

# Latent (T, H, W) shapes of world clips (patch (1, 2, 2)): stills, short and longer clips,
# square and not.
CLIP_MIX = [(1, 16, 16), (3, 16, 16), (5, 16, 16), (3, 12, 16), (5, 10, 18), (1, 16, 12)]
DTYPES = {"fp32": None, "bf16": torch.bfloat16}


# --- timing ---
def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict:
    """Median seconds of each function, the functions taking turns so they share the noise."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in times.items()}


def autocast(dtype: torch.dtype | None):
    return torch.autocast("cpu", dtype=dtype) if dtype else contextlib.nullcontext()


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- models and inputs ---
def wan_model(cfg: DiTConfig, ffn_dim: int):
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=cfg.patch_size,
        num_attention_heads=cfg.heads,
        attention_head_dim=cfg.dim // cfg.heads,
        in_channels=cfg.in_channels,
        out_channels=cfg.in_channels,
        text_dim=cfg.text_dim,
        ffn_dim=ffn_dim,
        num_layers=cfg.depth,
    )


def matched_wan(cfg: DiTConfig, target: int, tolerance: float = 0.1):
    """Wan at sorakit's architecture; if its parameter count is off by more than `tolerance`,
    its FFN is widened (or narrowed) to the count nearest `target`. Returns (model, ffn_dim)."""
    ffn = int(cfg.dim * cfg.mlp_ratio)
    wan = wan_model(cfg, ffn)
    gap = target - params(wan)
    if abs(gap) > tolerance * target:
        ffn += round(gap / (cfg.depth * (2 * cfg.dim + 1)))  # each FFN unit: 2 weights + 1 bias
        wan = wan_model(cfg, ffn)
    return wan, ffn


def random_samples(cfg: DiTConfig, shapes, text_lens, gen: torch.Generator) -> list[Sample]:
    return [
        Sample(
            latent=torch.randn(cfg.in_channels, *shape, generator=gen),
            t=torch.rand((), generator=gen),
            fps=8.0,
            text=torch.randn(n, cfg.text_dim, generator=gen),
        )
        for shape, n in zip(shapes, text_lens, strict=True)
    ]


def masked_mse(out: torch.Tensor, target: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean squared error over real tokens (real: (B, N) bool)."""
    return (out.float() - target).pow(2)[real].mean()


# --- 1. training step: sorakit vs Wan ---
def sorakit_loss(model: DiT, batch: TokenBatch) -> Callable[[], torch.Tensor]:
    target = torch.randn_like(batch.x)
    return lambda: masked_mse(model(batch), target, batch.seq >= 0)


def wan_loss(wan, samples: list[Sample]) -> Callable[[], torch.Tensor]:
    latents = torch.stack([s.latent for s in samples])
    timestep = torch.stack([s.t for s in samples]) * 1000
    text = torch.stack([s.text for s in samples])
    target = torch.randn_like(latents)

    def loss():
        out = wan(latents, timestep, text, return_dict=False)[0]
        return F.mse_loss(out.float(), target)

    return loss


def train_step(model, loss_fn, dtype) -> Callable[[], None]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast(dtype):
            loss = loss_fn()
        loss.backward()
        opt.step()

    return step


def _cpu_sdpa_flops(query, key, value, *args, **kwargs) -> int:
    return sdpa_flop_count(query.shape, key.shape, value.shape)


def _cpu_sdpa_backward_flops(grad, query, key, value, *args, **kwargs) -> int:
    return sdpa_backward_flop_count(grad.shape, query.shape, key.shape, value.shape)


_cpu_sdpa_flops._get_raw = _cpu_sdpa_backward_flops._get_raw = True  # called with tensors
CPU_SDPA_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flops,
}


def step_flops(loss_fn) -> int:
    """FLOPs of one forward + backward. CPU attention runs a kernel FlopCounterMode does not
    know, so it is counted here with the formulas of the GPU kernels."""
    with FlopCounterMode(display=False, custom_mapping=CPU_SDPA_FLOPS) as counter:
        loss_fn().backward()
    return counter.get_total_flops()


def training_step(args, cfg: DiTConfig) -> dict:
    torch.manual_seed(args.seed)
    ours = DiT(cfg)
    wan, ffn = matched_wan(cfg, params(ours))
    gen = torch.Generator().manual_seed(args.seed)
    shape = (args.frames, args.size, args.size)
    samples = random_samples(cfg, [shape] * args.batch, [args.text_len] * args.batch, gen)
    batch = stack(samples, cfg.patch_size, cfg.ref_fps)
    losses = {"sorakit": sorakit_loss(ours, batch), "wan": wan_loss(wan, samples)}
    tokens = batch.x.shape[0] * batch.x.shape[1]
    result = {
        "batch": f"{args.batch} x latent {(cfg.in_channels, *shape)}, text {args.text_len}",
        "tokens": tokens,
        "params": {"sorakit": params(ours), "wan": params(wan)},
        "wan_ffn_dim": ffn,
        "sorakit_ffn_dim": int(cfg.dim * cfg.mlp_ratio),
        "flops_per_step": {name: step_flops(fn) for name, fn in losses.items()},
    }
    for label, dtype in DTYPES.items():
        models = {"sorakit": ours, "wan": wan}
        steps = {k: train_step(models[k], losses[k], dtype) for k in models}
        sec = interleaved(steps, args.repeats)
        result[label] = {
            "s_per_step": sec,
            "tokens_per_s": {k: tokens / v for k, v in sec.items()},
            "throughput_ratio": sec["wan"] / sec["sorakit"],
        }
    return result


# --- 2. packing vs padding ---
def _pad(x: torch.Tensor, to: int, fill: float | None) -> torch.Tensor:
    """(1, n, ...) -> (1, to, ...), filled with `fill`, or with copies of the last token."""
    shape = (1, to - x.shape[1], *x.shape[2:])
    tail = x[:, -1:].expand(shape) if fill is None else x.new_full(shape, fill)
    return torch.cat([x, tail], dim=1)


def pad_rows(rows: list[TokenBatch], packed: bool) -> TokenBatch:
    """One-row batches -> one batch, tokens padded to the longest row with seq = -1 and
    captions with text_seq = -1 (sample indices stay per row: masks compare within a row).
    Padding tokens keep their row's last fps and size: a zero size would make NaN positions,
    and NaN reaches real tokens even through zero attention weights."""
    n = max(r.x.shape[1] for r in rows)
    length = max(r.text.shape[1] for r in rows)

    def column(field: str, to: int, fill: float | None = 0.0) -> torch.Tensor:
        return torch.cat([_pad(getattr(r, field), to, fill) for r in rows])

    return TokenBatch(
        x=column("x", n), t=column("t", n), pos=column("pos", n), seq=column("seq", n, -1),
        fps=column("fps", n, None), size=column("size", n, None),
        text=column("text", length), text_seq=column("text_seq", length, -1),
        grids=[g for r in rows for g in r.grids], packed=packed,
    )  # fmt: skip


def bins(counts: list[int], cap: int) -> list[list[int]]:
    """First-fit decreasing: indices of `counts` grouped into bins of at most `cap` tokens."""
    out: list[list] = []  # [tokens, indices] per bin
    for i in sorted(range(len(counts)), key=lambda i: -counts[i]):
        fit = next((b for b in out if b[0] + counts[i] <= cap), None)
        if fit is None:
            fit = [0, []]
            out.append(fit)
        fit[0] += counts[i]
        fit[1].append(i)
    return [b[1] for b in out]


def batchings(samples: list[Sample], cfg: DiTConfig) -> dict[str, TokenBatch]:
    """The same clips three ways: padded (one clip a row), packed (one sequence), and packed
    rows (clips packed into rows no longer than the longest clip, then padded)."""
    p, fps = cfg.patch_size, cfg.ref_fps
    rows = [stack([s], p, fps) for s in samples]
    counts = [r.x.shape[1] for r in rows]
    groups = bins(counts, max(counts))
    return {
        "padded": pad_rows(rows, packed=False),
        "packed": pack(samples, p, fps),
        "packed rows": pad_rows([pack([samples[i] for i in g], p, fps) for g in groups], True),
    }


def fwd_bwd(model: DiT, batch: TokenBatch) -> Callable[[], None]:
    loss = sorakit_loss(model, batch)

    def run():
        model.zero_grad(set_to_none=True)
        loss().backward()

    return run


def world_clips(args, cfg: DiTConfig) -> list[Sample]:
    rng = random.Random(args.seed)
    shapes = [rng.choice(CLIP_MIX) for _ in range(args.clips)]
    text_lens = [rng.randint(max(1, args.text_len // 2), args.text_len) for _ in shapes]
    return random_samples(cfg, shapes, text_lens, torch.Generator().manual_seed(args.seed))


def packing(args, cfg: DiTConfig) -> dict:
    torch.manual_seed(args.seed)
    model = DiT(cfg)
    samples = world_clips(args, cfg)
    batches = batchings(samples, cfg)
    real = {k: int((b.seq >= 0).sum()) for k, b in batches.items()}
    assert len(set(real.values())) == 1, real
    real = real["packed"]
    sec = interleaved({k: fwd_bwd(model, b) for k, b in batches.items()}, args.repeats)
    return {
        "clips": [list(s.latent.shape[1:]) for s in samples],
        "real_tokens": real,
        "tokens_computed": {k: b.x.shape[0] * b.x.shape[1] for k, b in batches.items()},
        "rows": {k: b.x.shape[0] for k, b in batches.items()},
        "flops_fwd_bwd": {k: step_flops(sorakit_loss(model, b)) for k, b in batches.items()},
        "s_per_fwd_bwd": sec,
        "useful_tokens_per_s": {k: real / v for k, v in sec.items()},
        "over_padded": {k: sec["padded"] / v for k, v in sec.items() if k != "padded"},
    }


# --- 3. model FLOPs utilisation ---
def matmul_peak(n: int, repeats: int) -> dict:
    """FLOP/s of an n x n matmul, per dtype."""

    def matmul(dtype: torch.dtype | None) -> Callable[[], torch.Tensor]:
        a, b = (torch.randn(n, n).to(dtype or torch.float32) for _ in range(2))
        return lambda: torch.matmul(a, b)

    sec = interleaved({k: matmul(d) for k, d in DTYPES.items()}, repeats)
    return {k: 2 * n**3 / v for k, v in sec.items()}


def mfu(args, step: dict) -> dict:
    peak = matmul_peak(args.matmul_size, args.repeats)
    out = {"matmul_size": args.matmul_size, "peak_flops": peak}
    for label in DTYPES:
        sec = step[label]["s_per_step"]
        achieved = {k: step["flops_per_step"][k] / s for k, s in sec.items()}
        out[label] = {
            "achieved_flops": achieved,
            "mfu": {k: v / peak[label] for k, v in achieved.items()},
        }
    return out


# --- reporting ---
MODELS = ("sorakit", "wan")


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def row(label: str, values: dict, fmt: str, *extra) -> list:
    """A table row: label, sorakit's and Wan's values formatted, then `extra` cells."""
    return [label, *(format(values[k], fmt) for k in MODELS), *extra]


def report_step(r: dict) -> str:
    p = r["params"]
    rows = [
        row("params", p, ",", f"{p['sorakit'] / p['wan']:.3f}"),
        ["FFN size", r["sorakit_ffn_dim"], r["wan_ffn_dim"], ""],
        row("GFLOPs / step (fwd+bwd)", {k: v / 1e9 for k, v in r["flops_per_step"].items()},
            ".2f", ""),
    ]  # fmt: skip
    for label in DTYPES:
        d = r[label]
        rows.append(row(f"{label} s/step", d["s_per_step"], ".4f", ""))
        rows.append(row(f"{label} tokens/s", d["tokens_per_s"], ",.0f",
                        f"**{d['throughput_ratio']:.2f}x**"))  # fmt: skip
    title = f"## 1. Training step ({r['batch']}; {r['tokens']} tokens)"
    return f"{title}\n\n" + table(["", "sorakit", "Wan", "sorakit/Wan"], rows)


def report_packing(r: dict) -> str:
    rows = [
        [k, r["rows"][k], r["tokens_computed"][k], f"{r['flops_fwd_bwd'][k] / 1e9:.2f}",
         f"{r['s_per_fwd_bwd'][k]:.4f}", f"{r['useful_tokens_per_s'][k]:,.0f}",
         f"**{r['over_padded'][k]:.2f}x**" if k in r["over_padded"] else ""]
        for k in r["s_per_fwd_bwd"]
    ]  # fmt: skip
    header = ["", "rows", "tokens computed", "GFLOPs", "s / fwd+bwd", "useful tokens/s",
              "vs padded"]  # fmt: skip
    title = f"## 2. Packing vs padding ({len(r['clips'])} clips, {r['real_tokens']} real tokens)"
    return f"{title}\n\n" + table(header, rows)


def report_mfu(r: dict) -> str:
    rows = []
    for label in DTYPES:
        d = r[label]
        gflops = {k: v / 1e9 for k, v in d["achieved_flops"].items()}
        rows.append([label, f"{r['peak_flops'][label] / 1e9:.1f}",
                     *row("", gflops, ".1f")[1:], *row("", d["mfu"], ".1%")[1:]])  # fmt: skip
    header = ["dtype", "matmul peak GFLOP/s", "sorakit GFLOP/s", "Wan GFLOP/s",
              "sorakit MFU", "Wan MFU"]  # fmt: skip
    return f"## 3. Model FLOPs utilisation ({r['matmul_size']}^2 matmul)\n\n" + table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="world", choices=sorted(DIT_PRESETS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=5, help="latent frames (part 1)")
    parser.add_argument("--size", type=int, default=16, help="latent height = width (part 1)")
    parser.add_argument("--text-len", type=int, default=16)
    parser.add_argument("--clips", type=int, default=12, help="clips in the batch (part 2)")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat: a smoke run")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--dtypes",
        default="fp32,bf16",
        help="comma-separated, of fp32 and bf16 (bf16 is emulated, and slow, on CPUs without "
        "bf16 units)",
    )
    args = parser.parse_args()
    chosen = set(args.dtypes.split(","))
    if chosen - set(DTYPES):
        parser.error(f"unknown dtypes {sorted(chosen - set(DTYPES))}; choose from {sorted(DTYPES)}")
    for label in set(DTYPES) - chosen:
        del DTYPES[label]  # every part of this script runs over DTYPES
    if args.quick:
        args.preset, args.batch, args.frames, args.size = "tiny", 2, 2, 8
        args.text_len, args.clips, args.matmul_size, args.repeats = 4, 4, 256, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = DIT_PRESETS[args.preset]
    step = training_step(args, cfg)
    results = {
        "preset": args.preset,
        "threads": torch.get_num_threads(),
        "training_step": step,
        "packing": packing(args, cfg),
        "mfu": mfu(args, step),
    }
    print(f"# DiT benchmark: preset '{args.preset}', {results['threads']} threads\n")
    print("\n\n".join([report_step(step), report_packing(results["packing"]),
                       report_mfu(results["mfu"])]))  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
