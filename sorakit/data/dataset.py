"""The training dataset: manifest rows in, fixed-shape video tensors out.

Bad data must not kill an epoch. A row whose file cannot be read or holds too few frames becomes
a ``SkippedSample`` (logged once, as one line), ``collate_videos`` drops it from the batch and
counts it, and the trainer sums ``batch["skipped"]`` to see how much data it lost.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from sorakit.data.buckets import Bucket, BucketBatchSampler, BucketConfig
from sorakit.data.clip import read_clip, row_info
from sorakit.data.manifest import ManifestRow, read_manifest
from sorakit.data.transforms import (
    ClipTooShortError,
    resample_indices,
    resize_and_crop,
    to_model_tensor,
)
from sorakit.data.video import VideoInfo, VideoReadError, probe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SkippedSample:
    """Stands in for a sample that could not be made; ``collate_videos`` drops and counts it."""

    index: int
    path: Path
    reason: str  # one line, starting with the file path


class VideoDataset(Dataset):
    """Clips from manifest rows, resampled to ``fps`` and resized to a bucket or fixed size.

    Each row is assigned a bucket when the dataset is built, from the file header alone (no
    decoding). Rows that cannot be probed or are too short for every bucket get bucket None:
    samplers never draw them, and they are reported in one warning.

    Args:
        rows: manifest rows, e.g. from ``read_manifest``.
        fps: frame rate of the returned clips.
        buckets: the shapes clips may take; each clip gets the closest one.
        size: one fixed (num_frames, height, width) for every clip instead of buckets.

    Items are dicts with ``video`` (C, T, H, W) float32 in [-1, 1], ``caption``, ``fps``,
    ``path`` and ``index``, or a ``SkippedSample``.
    """

    def __init__(
        self,
        rows: Sequence[ManifestRow],
        fps: float,
        buckets: BucketConfig | None = None,
        size: tuple[int, int, int] | None = None,
    ) -> None:
        if (buckets is None) == (size is None):
            raise ValueError("give exactly one of buckets= or size=")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if size is not None:
            num_frames, height, width = size
            buckets = BucketConfig((Bucket(height, width, num_frames),))
        assert buckets is not None  # for type checkers: exactly one was given
        self.rows = list(rows)
        self.fps = float(fps)
        self.buckets = buckets
        self.infos: list[VideoInfo | None] = []
        self.bucket_of: list[Bucket | None] = []
        self.unusable: dict[int, str] = {}  # index -> why it has no bucket
        for index, row in enumerate(self.rows):
            info, bucket, reason = self._assign(row)
            self.infos.append(info)
            self.bucket_of.append(bucket)
            if reason is not None:
                self.unusable[index] = reason
        if self.unusable:
            first = next(iter(self.unusable.values()))
            logger.warning(
                "%d of %d rows have no bucket and will not be sampled; first: %s",
                len(self.unusable),
                len(self.rows),
                first,
            )

    def _assign(self, row: ManifestRow) -> tuple[VideoInfo | None, Bucket | None, str | None]:
        try:
            info = probe(row.path)
        except VideoReadError as exc:
            return None, None, str(exc)
        bucket = self.buckets.assign(row_info(row, info), self.fps, row.start, row.end)
        if bucket is None:
            kind = "an image" if info.is_image else "too short"
            return info, None, f"{row.path}: {kind}, fits no bucket at {self.fps:g} fps"
        return info, bucket, None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any] | SkippedSample:
        row, info, bucket = self.rows[index], self.infos[index], self.bucket_of[index]
        if info is None or bucket is None:
            # Already reported when the dataset was built; a sampler would not draw this index.
            return SkippedSample(index, row.path, self.unusable[index])
        try:
            frames = self._load(row, info, bucket)
        except VideoReadError as exc:
            return self._skip(index, row.path, str(exc))
        except ClipTooShortError as exc:  # the header promised more frames than decoded
            return self._skip(index, row.path, f"{row.path}: {exc}")
        return {
            "video": to_model_tensor(resize_and_crop(frames, bucket.height, bucket.width)),
            "caption": row.caption,
            "fps": self.fps,
            "path": str(row.path),
            "index": index,
        }

    def _load(self, row: ManifestRow, info: VideoInfo, bucket: Bucket) -> np.ndarray:
        """The bucket's frames, (num_frames, H, W, 3) uint8, at the dataset's fps."""
        if info.is_image:
            clip = read_clip(row, info)
            return clip.frames[resample_indices(clip.times, self.fps, bucket.num_frames)]
        source_fps = row_info(row, info).fps
        assert source_fps is not None  # videos always have a rate
        # Decode only what the bucket needs, plus one source frame: the frame nearest to the
        # last target time may lie just after it.
        seconds = bucket.num_frames / self.fps + 1.0 / source_fps
        clip = read_clip(row, info, max_seconds=seconds)
        start = row.start or 0.0
        return clip.frames[resample_indices(clip.times, self.fps, bucket.num_frames, start)]

    @staticmethod
    def _skip(index: int, path: Path, reason: str) -> SkippedSample:
        logger.warning("skipping sample %d: %s", index, reason)
        return SkippedSample(index, path, reason)


def collate_videos(items: Sequence[dict[str, Any] | SkippedSample]) -> dict[str, Any]:
    """Stack the good samples of a batch (they share a bucket) and count the skipped ones.

    Returns a dict with ``video`` (B, C, T, H, W), ``caption`` / ``path`` / ``index`` lists,
    ``fps`` (B,) float tensor and ``skipped`` (int). If every sample was skipped, ``video`` is
    None and the lists are empty: the trainer should skip the step but still count ``skipped``.
    """
    kept = [item for item in items if not isinstance(item, SkippedSample)]
    skipped = len(items) - len(kept)
    if not kept:
        video = None
    else:
        shapes = {tuple(item["video"].shape) for item in kept}
        if len(shapes) > 1:
            raise ValueError(f"samples in a batch must share a bucket, got shapes {sorted(shapes)}")
        video = torch.stack([item["video"] for item in kept])
    return {
        "video": video,
        "caption": [item["caption"] for item in kept],
        "fps": torch.tensor([item["fps"] for item in kept], dtype=torch.float32),
        "path": [item["path"] for item in kept],
        "index": [item["index"] for item in kept],
        "skipped": skipped,
    }


def _ignore_stop_signals(worker_id: int) -> None:
    # Ctrl-C reaches the whole process group; the main process decides how training stops
    # (with a checkpoint) and shuts its workers down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def make_dataloader(
    manifest_path: str | os.PathLike,
    fps: float,
    buckets: BucketConfig | str,
    batch_size: int,
    num_workers: int = 0,
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader over a manifest: bucketed batches, bad rows reported and skipped.

    ``buckets`` is a BucketConfig or a preset name such as ``"world64"``. The sampler is
    ``loader.batch_sampler``; call its ``set_epoch`` / ``state_dict`` from the training loop.
    Raises ValueError if no row of the manifest can be used.
    """
    rows, problems = read_manifest(manifest_path)
    if problems:
        logger.warning(
            "%s: %d bad manifest rows left out; first: row %d: %s",
            manifest_path,
            len(problems),
            problems[0].row,
            problems[0].message,
        )
    config = BucketConfig.preset(buckets) if isinstance(buckets, str) else buckets
    dataset = VideoDataset(rows, fps, buckets=config)
    sampler = BucketBatchSampler(
        dataset.bucket_of, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last
    )
    if len(sampler) == 0:
        raise ValueError(f"{manifest_path}: no usable rows for batches of {batch_size}")
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_videos,
        persistent_workers=num_workers > 0,
        worker_init_fn=_ignore_stop_signals,
        # Its own generator: each new iterator draws a seed, which must not consume the global
        # RNG that training resumes from a checkpoint.
        generator=torch.Generator().manual_seed(seed),
    )
