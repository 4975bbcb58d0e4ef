"""Aspect-ratio and length buckets, and a batch sampler that keeps each batch in one bucket.

Real clips come in many shapes and lengths. Rather than crop everything to one square size (which
throws away the sides of wide videos) every clip is assigned the bucket closest to its aspect
ratio, with the longest frame count it can fill, and batches are drawn from one bucket at a time
so their tensors stack.

A NaViT-style packing sampler (batches filled up to a token budget, mixing buckets) will
implement the same ``Sampler[list[int]]`` interface, so the dataloader will not change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from sorakit.data.transforms import frames_that_fit
from sorakit.data.video import VideoInfo


@dataclass(frozen=True, order=True)
class Bucket:
    """A training shape: every clip in the bucket becomes (num_frames, height, width)."""

    height: int
    width: int
    num_frames: int

    def __post_init__(self) -> None:
        if min(self.height, self.width, self.num_frames) < 1:
            raise ValueError(f"bucket sizes must be positive, got {self}")

    def __str__(self) -> str:
        return f"{self.height}x{self.width}x{self.num_frames}"

    @property
    def aspect(self) -> float:
        """Width over height."""
        return self.width / self.height

    def tokens(self, patch: tuple[int, int, int] = (1, 1, 1)) -> int:
        """Patches in one clip for a (time, height, width) patch size; the default counts pixels.

        Edges that do not divide evenly count as a whole patch (padding), as in NaViT.
        """
        pt, ph, pw = patch
        return (
            math.ceil(self.num_frames / pt)
            * math.ceil(self.height / ph)
            * math.ceil(self.width / pw)
        )


# Sizes are (height, width). Frame counts are 1 + 8k so a causal video VAE with 4x or 8x
# temporal compression sees whole latent frames; 1 is for images.
_SIZES_64 = ((64, 64), (48, 64), (64, 48), (40, 72), (72, 40))
_SIZES_128 = ((128, 128), (96, 128), (128, 96), (72, 128), (128, 72))
_FRAMES = (1, 9, 17, 33)
PRESETS: dict[str, tuple[tuple[tuple[int, int], ...], tuple[int, ...]]] = {
    "world64": (_SIZES_64, _FRAMES),
    "world128": (_SIZES_128, _FRAMES),
    # Both scales: each clip keeps the scale nearest its own (`BucketConfig.assign`), so a
    # decoder can learn 128 px outlines without 64 px clips being blown up to 128.
    "world-multi": (_SIZES_64 + _SIZES_128, _FRAMES),
}


@dataclass(frozen=True)
class BucketConfig:
    """The buckets a dataset may use."""

    buckets: tuple[Bucket, ...]

    def __post_init__(self) -> None:
        if not self.buckets:
            raise ValueError("a BucketConfig needs at least one bucket")
        object.__setattr__(self, "buckets", tuple(sorted(set(self.buckets))))

    @classmethod
    def from_sizes(
        cls, sizes: Iterable[tuple[int, int]], frame_counts: Iterable[int]
    ) -> BucketConfig:
        """Every (height, width) in ``sizes`` with every count in ``frame_counts``."""
        counts = tuple(frame_counts)
        return cls(tuple(Bucket(h, w, t) for h, w in sizes for t in counts))

    @classmethod
    def preset(cls, name: str) -> BucketConfig:
        """A named configuration from ``PRESETS``, e.g. ``"world64"``."""
        if name not in PRESETS:
            raise ValueError(f"unknown bucket preset {name!r}; choose from {sorted(PRESETS)}")
        return cls.from_sizes(*PRESETS[name])

    def assign(
        self, info: VideoInfo, fps: float, start: float | None = None, end: float | None = None
    ) -> Bucket | None:
        """The bucket for a clip, or None if the clip fills none.

        Among the buckets the clip can fill (images fill only 1-frame buckets; videos fill those
        with at most as many frames as ``[start, end)`` holds at ``fps``), take the one closest
        in aspect ratio, measured as |log(bucket aspect / clip aspect)| so 2:1 and 1:2 are
        equally far from 1:1, then the one with the most frames, then the one nearest the
        clip's own pixel count (a multi-scale preset neither blows small clips up nor shrinks
        large ones when a bucket of their scale exists; ties go to more pixels).
        """
        fit = 1 if info.is_image else self._frames_in_range(info, fps, start, end)
        fillable = [b for b in self.buckets if b.num_frames <= fit]
        if not fillable or info.width < 1 or info.height < 1:
            return None
        log_aspect = math.log(info.width / info.height)
        log_pixels = math.log(info.width * info.height)
        # Rounding lets equal aspects (36x64 vs 72x128) and equal scale ratios tie.
        return min(
            fillable,
            key=lambda b: (
                round(abs(math.log(b.aspect) - log_aspect), 9),
                -b.num_frames,
                round(abs(math.log(b.height * b.width) - log_pixels), 9),
                -b.height * b.width,
            ),
        )

    @staticmethod
    def _frames_in_range(
        info: VideoInfo, fps: float, start: float | None, end: float | None
    ) -> int:
        stop = info.duration if end is None else min(end, info.duration)
        return frames_that_fit(stop - (start or 0.0), fps)


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices that all share one bucket.

    Each epoch shuffles the indices inside every bucket, cuts them into batches, and shuffles the
    order of all batches, so buckets interleave. The order depends only on ``seed`` and the
    epoch. Indices whose bucket is None are never drawn.

    The sampler tracks its position so a run can stop and resume on the same data. A full pass
    moves it to the next epoch; ``set_epoch`` with a different epoch restarts from that epoch's
    first batch, and with the current epoch changes nothing (so resuming and then calling
    ``set_epoch`` in the usual epoch loop keeps the resumed position).

    Under a DataLoader with workers the sampler runs ahead of the training loop by the prefetched
    batches, so ``state_dict()`` counts batches that were prefetched but not trained on. For
    exact resumption save ``{"epoch": epoch, "batches_yielded": steps_done_this_epoch}`` from the
    training loop and pass it to ``load_state_dict``.
    """

    def __init__(
        self,
        bucket_of: Sequence[Bucket | None],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        groups: dict[Bucket, list[int]] = {}
        for index, bucket in enumerate(bucket_of):
            if bucket is not None:
                groups.setdefault(bucket, []).append(index)
        # Sorted buckets: the batch order must not depend on dict insertion order.
        self._groups = [np.asarray(groups[b], dtype=np.int64) for b in sorted(groups)]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self.batches_yielded = 0

    def __len__(self) -> int:
        """Batches in one full epoch (also while a resumed epoch is part-way through)."""
        if self.drop_last:
            return sum(len(g) // self.batch_size for g in self._groups)
        return sum(math.ceil(len(g) / self.batch_size) for g in self._groups)

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches(self.epoch)
        while self.batches_yielded < len(batches):
            batch = batches[self.batches_yielded]
            self.batches_yielded += 1
            yield batch
        self.epoch += 1
        self.batches_yielded = 0

    def set_epoch(self, epoch: int) -> None:
        """Move to ``epoch``'s first batch, unless the sampler is already in that epoch."""
        if epoch != self.epoch:
            self.epoch = epoch
            self.batches_yielded = 0

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batches_yielded": self.batches_yielded}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        epoch, done = int(state["epoch"]), int(state["batches_yielded"])
        if not 0 <= done <= len(self):
            raise ValueError(f"batches_yielded={done} is outside this epoch's {len(self)} batches")
        self.epoch, self.batches_yielded = epoch, done

    def _batches(self, epoch: int) -> list[list[int]]:
        # One generator per (seed, epoch): the order is reproducible without global RNG state.
        rng = np.random.default_rng([self.seed, epoch])
        batches: list[list[int]] = []
        for group in self._groups:
            order = rng.permutation(group) if self.shuffle else group
            for i in range(0, len(order), self.batch_size):
                batch = order[i : i + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch.tolist())
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches
