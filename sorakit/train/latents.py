"""Cached latents: what `sorakit preprocess` writes and the transformer trains on.

A cache folder holds
- `shard-NNNNN.safetensors` + `shard-NNNNN.jsonl`: latents (C, T, H, W) of up to `shard_size`
  clips and one JSON row each (key, caption, fps, shape, source path). Each shard is written
  atomically, so an interrupted preprocessing run resumes at the first missing shard;
- `text.safetensors` + `text.json`: the caption embeddings (`TextEmbeddingCache`);
- `meta.json`, written last: the VAE and text encoder the cache was made with.

A refiner's cache (`refiner="spatial"` or `"temporal"`) also holds, under `KEY.low`, what the
refiner reads for each clip: its low version (`sorakit.cascade.training_low`: half the size, or
half the frame rate) upsampled back in pixels and encoded (`sorakit.cascade.refiner_input`).

Latents are the VAE's normalised posterior means; clips keep their own frame rate (or one
forced with `fps`), each resized to its nearest bucket.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from sorakit.cascade.resample import refiner_input, training_low
from sorakit.data.buckets import BucketBatchSampler, BucketConfig
from sorakit.data.dataset import VideoDataset
from sorakit.data.layout import BoxTrack, LayoutError, empty_layout, layout_map, read_track
from sorakit.data.manifest import read_manifest
from sorakit.data.video import VideoReadError, probe
from sorakit.fileio import atomic_write
from sorakit.models.text import TextEmbeddingCache

logger = logging.getLogger(__name__)

META_NAME = "meta.json"
LOW = ".low"  # key suffix of a clip's low-version latent in a refiner's cache
# What `refiner_input` makes for each refiner today; caches record it.
REFINER_INPUTS = {"spatial": "upsampled-pixels", "temporal": "motion-compensated"}
TEXT_NAME = "text.safetensors"


@dataclass(frozen=True)
class LatentRow:
    key: str
    caption: str
    fps: float
    shape: tuple[int, int, int, int]  # (C, T, H, W)
    source: str


def _row_fps(row, force_fps: float | None) -> float | None:
    if force_fps:
        return force_fps
    if row.fps:
        return float(row.fps)
    try:
        return probe(row.path).fps
    except VideoReadError:
        return None


@torch.no_grad()
def preprocess(
    manifest: str | Path,
    out: str | Path,
    vae,
    text_encoder,
    buckets: BucketConfig,
    fps: float | None = None,
    shard_size: int = 500,
    on_clip: Callable[[], None] | None = None,
    vae_path: str | None = None,
    encode_batch: int = 16,
    refiner: str | None = None,
) -> dict[str, Any]:
    """Encode every usable clip of `manifest` with `vae` and every caption with `text_encoder`
    into the cache folder `out`; returns the meta record. Rerunning skips finished shards.
    With `refiner`, each clip's low version is encoded too (clips without one are skipped)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, problems = read_manifest(manifest)
    if problems:
        logger.warning("%d bad manifest rows left out; first: %s", len(problems), problems[0])
    skipped = 0
    for shard, start in enumerate(range(0, len(rows), shard_size)):
        stem = out / f"shard-{shard:05d}"
        part = rows[start : start + shard_size]
        if stem.with_suffix(".jsonl").exists():
            for _ in part:
                if on_clip:
                    on_clip()
            continue
        tensors, records, bad = _encode_shard(
            part, start, vae, buckets, fps, on_clip, encode_batch, refiner
        )
        skipped += bad
        write_shard(stem, tensors, records)
    cached = read_rows(out)
    text = TextEmbeddingCache.build(text_encoder, sorted({r.caption for r in cached}))
    meta = {
        "clips": len(cached),
        "skipped": skipped,
        "vae": vae_path,  # where the VAE was loaded from, to decode samples during training
        "latent_channels": vae.latent_channels,
        "spatial_factor": vae.spatial_factor,
        "temporal_factor": vae.temporal_factor,
        "text_encoder": text_encoder.name,
        "text_dim": text_encoder.dim,
        "refiner": refiner,
        # How the refiner input was made (sorakit.cascade.resample), so a cache made another
        # way (latents upsampled, frames blended) is not trained on by mistake.
        "refiner_input": REFINER_INPUTS.get(refiner),
    }
    write_meta(out, text, meta)
    return meta


def _encode_shard(
    part: list,
    start: int,
    vae,
    buckets: BucketConfig,
    fps: float | None,
    on_clip: Callable[[], None] | None,
    encode_batch: int,
    refiner: str | None = None,
) -> tuple[dict[str, torch.Tensor], list[dict], int]:
    """Latents and rows of one shard's clips (grouped by frame rate, encoded in batches of
    one shape), and how many were skipped."""
    skipped = 0
    tensors, records = {}, []
    by_fps: dict[float, list[int]] = {}
    for i, row in enumerate(part):
        rate = _row_fps(row, fps)
        if rate is None:
            skipped += 1
            logger.warning("%s: no frame rate; pass --fps", row.path)
            continue
        by_fps.setdefault(rate, []).append(i)
    for rate, indices in sorted(by_fps.items()):
        data = VideoDataset([part[i] for i in indices], rate, buckets=buckets)
        pending: dict[tuple, list] = {}  # clips waiting to be encoded, by shape
        for j in range(len(data)):
            item = data[j]
            if on_clip:
                on_clip()
            if not isinstance(item, dict) or not _pairable(item["video"], refiner):
                skipped += 1
                continue
            if refiner:
                item["low"] = training_low(item["video"], refiner, rate, part[indices[j]].extra)
            group = pending.setdefault(tuple(item["video"].shape), [])
            group.append((f"{start + indices[j]:07d}", item))
            if len(group) == encode_batch:
                _encode(vae, group, rate, tensors, records, refiner)
                group.clear()
        for group in pending.values():
            if group:
                _encode(vae, group, rate, tensors, records, refiner)
    records.sort(key=lambda r: r["key"])
    return tensors, records, skipped


def _pairable(video: torch.Tensor, refiner: str | None) -> bool:
    """Whether a (C, T, H, W) clip has a low version the VAE can encode."""
    if refiner == "temporal":
        return video.shape[1] > 1 and (video.shape[1] - 1) % 2 == 0
    if refiner == "spatial":
        return video.shape[2] % 2 == 0 and video.shape[3] % 2 == 0
    return True


def _encode(
    vae, items: list, rate: float, tensors: dict, records: list, refiner: str | None = None
) -> None:
    """Encode clips of one shape in one batch; add their latents (and, for a refiner, what it
    reads of their low versions: `refiner_input`, the same function the pipeline calls) and
    rows to the shard."""
    device = next(vae.parameters()).device  # clips are decoded on the host, encoded there
    latents = vae.encode(torch.stack([item["video"] for _, item in items]).to(device))
    lows = [None] * len(items)
    if refiner:
        low = torch.stack([item["low"] for _, item in items]).to(device)
        lows = list(refiner_input(vae, low, refiner))
    for (key, item), latent, low in zip(items, latents, lows, strict=True):
        tensors[key] = latent.to("cpu", torch.float16).contiguous()
        record = {"key": key, "caption": item["caption"], "fps": rate,
                  "shape": list(latent.shape), "source": item["path"]}  # fmt: skip
        if low is not None:
            tensors[key + LOW] = low.to("cpu", torch.float16).contiguous()
        records.append(record)


def write_shard(stem: Path, tensors: dict[str, torch.Tensor], records: list[dict]) -> None:
    """One shard: the tensors first, the row file last, so a shard with its .jsonl is complete."""
    atomic_write(stem.with_suffix(".safetensors"), lambda p: save_file(tensors, str(p)))
    lines = "".join(json.dumps(r) + "\n" for r in records)
    atomic_write(stem.with_suffix(".jsonl"), lambda p: p.write_text(lines))


def write_meta(folder: Path, text, meta: dict[str, Any]) -> None:
    """Finish a cache: the caption embeddings (a `TextEmbeddingCache`), then meta.json."""
    text.save(folder / TEXT_NAME)
    atomic_write(folder / META_NAME, lambda p: p.write_text(json.dumps(meta, indent=1)))


def read_rows(folder: Path) -> list[LatentRow]:
    rows = []
    for path in sorted(folder.glob("shard-*.jsonl")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            rows.append(LatentRow(r["key"], r["caption"], r["fps"], tuple(r["shape"]), r["source"]))
    return rows


class LatentDataset:
    """All cached latents of a folder, in memory (world caches are tens of MB)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        meta_path = self.folder / META_NAME
        if not meta_path.exists():
            raise ValueError(f"{folder}: not a finished latent cache (no {META_NAME})")
        self.meta = json.loads(meta_path.read_text())
        self.rows = read_rows(self.folder)
        self.latents: dict[str, torch.Tensor] = {}
        for path in sorted(self.folder.glob("shard-*.safetensors")):
            self.latents.update(load_file(str(path)))
        self.text = TextEmbeddingCache.load(self.folder / TEXT_NAME)
        self._tracks: dict[int, BoxTrack | None] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, LatentRow]:
        row = self.rows[index]
        return self.latents[row.key].float(), row

    def low(self, index: int) -> torch.Tensor:
        """The latent of the clip's low version (a refiner's cache only)."""
        key = self.rows[index].key + LOW
        if key not in self.latents:
            raise ValueError(f"{self.folder}: no low versions (preprocess with --refiner)")
        return self.latents[key].float()

    def track(self, index: int) -> BoxTrack | None:
        """The clip's object boxes over time, from the world annotation beside its source
        video (`clip.json` beside `clip.mp4`); None for clips without one (real video)."""
        if index not in self._tracks:
            path = Path(self.rows[index].source).with_suffix(".json")
            try:
                self._tracks[index] = read_track(path) if path.exists() else None
            except (LayoutError, ValueError) as err:
                logger.warning("%s: no layout (%s)", path, err)
                self._tracks[index] = None
        return self._tracks[index]

    def layout(
        self,
        index: int,
        dropped: bool = False,
        frames: int = 1,
        fill: str = "box",
        kind_frames: int = 1,
    ) -> torch.Tensor:
        """The clip's layout map on its latent grid, with `frames` occupancy channels and
        `kind_frames` per colour and shape per latent frame, cells covered by each object's
        `fill` (`sorakit.data.layout`); the empty map when `dropped` or the clip has no
        annotation."""
        row = self.rows[index]
        track = None if dropped else self.track(index)
        if track is None:
            return empty_layout(row.shape[1:], frames, kind_frames)
        tf = self.meta["temporal_factor"]
        return layout_map(track, row.shape[1:], row.fps, tf, frames, fill, kind_frames)

    def group_keys(self) -> list[tuple]:
        """One key per clip that batches may not mix: latent shape and frame rate."""
        return [(*row.shape, row.fps) for row in self.rows]


def latent_batch_sampler(
    data: LatentDataset, batch_size: int, seed: int, rank: int = 0, world_size: int = 1
) -> ShardedBatchSampler:
    """Bucketed batches of one latent shape and frame rate, split across ranks."""
    inner = BucketBatchSampler(data.group_keys(), batch_size * world_size, seed=seed)
    return ShardedBatchSampler(inner, rank, world_size)


class ShardedBatchSampler:
    """Each global batch of `inner` cut into `world_size` equal parts; this rank takes one.
    Batches too small to give every rank a sample are skipped on every rank alike, so all
    ranks step together. State (position) is the inner sampler's."""

    def __init__(self, inner: BucketBatchSampler, rank: int, world_size: int):
        self.inner, self.rank, self.world_size = inner, rank, world_size

    def __iter__(self):
        for batch in self.inner:
            per_rank = len(batch) // self.world_size
            if per_rank == 0:
                continue
            yield batch[self.rank * per_rank : (self.rank + 1) * per_rank]

    def __len__(self) -> int:
        return len(self.inner)

    @property
    def epoch(self) -> int:
        return self.inner.epoch

    @property
    def batches_yielded(self) -> int:
        return self.inner.batches_yielded

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state)


class PackedBatchSampler(BucketBatchSampler):
    """Packs of clips of any shapes, each pack holding at most `max_tokens` tokens: every epoch
    shuffles all clips and fills packs greedily in that order. A clip longer than `max_tokens`
    gets a pack of its own. Position and resumption work as in `BucketBatchSampler`."""

    def __init__(self, token_counts: list[int], max_tokens: int, seed: int = 0):
        super().__init__([0] * len(token_counts), batch_size=1, seed=seed)
        self.token_counts, self.max_tokens = list(token_counts), max_tokens
        self._cache: tuple[int, list[list[int]]] | None = None

    def __len__(self) -> int:
        return len(self._batches(self.epoch))

    def _batches(self, epoch: int) -> list[list[int]]:
        if self._cache is None or self._cache[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            packs: list[list[int]] = []
            current, used = [], 0
            for index in rng.permutation(len(self.token_counts)).tolist():
                n = self.token_counts[index]
                if current and used + n > self.max_tokens:
                    packs.append(current)
                    current, used = [], 0
                current.append(index)
                used += n
            if current:
                packs.append(current)
            self._cache = (epoch, packs)
        return self._cache[1]
