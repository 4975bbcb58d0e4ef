"""Video data: manifests, decoding, frame transforms, buckets, the dataset and its checker."""

from sorakit.data.buckets import PRESETS, Bucket, BucketBatchSampler, BucketConfig
from sorakit.data.check import Problem, check_manifest, format_problem
from sorakit.data.dataset import SkippedSample, VideoDataset, collate_videos, make_dataloader
from sorakit.data.manifest import (
    ManifestError,
    ManifestProblem,
    ManifestRow,
    read_manifest,
    write_manifest,
)
from sorakit.data.transforms import (
    ClipTooShortError,
    from_model_tensor,
    resample_indices,
    resize_and_crop,
    to_model_tensor,
)
from sorakit.data.video import Video, VideoInfo, VideoReadError, probe, read_video, write_video

__all__ = [
    "PRESETS",
    "Bucket",
    "BucketBatchSampler",
    "BucketConfig",
    "ClipTooShortError",
    "ManifestError",
    "ManifestProblem",
    "ManifestRow",
    "Problem",
    "SkippedSample",
    "Video",
    "VideoDataset",
    "VideoInfo",
    "VideoReadError",
    "check_manifest",
    "collate_videos",
    "format_problem",
    "from_model_tensor",
    "make_dataloader",
    "probe",
    "read_manifest",
    "read_video",
    "resample_indices",
    "resize_and_crop",
    "to_model_tensor",
    "write_manifest",
    "write_video",
]
