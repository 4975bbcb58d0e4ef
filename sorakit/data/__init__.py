"""Video data: manifests, decoding, frame transforms, buckets, the dataset and its checker.

The names below load their module on first use (PEP 562): a process that only decodes video,
such as the decoder child of `sorakit.data.safe_read`, then never imports torch.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "sorakit.data.buckets": ("PRESETS", "Bucket", "BucketBatchSampler", "BucketConfig"),
    "sorakit.data.check": ("Problem", "check_manifest", "format_problem"),
    "sorakit.data.dataset": ("SkippedSample", "VideoDataset", "collate_videos", "make_dataloader"),
    "sorakit.data.manifest": (
        "ManifestError", "ManifestProblem", "ManifestRow", "read_manifest", "write_manifest",
    ),
    "sorakit.data.transforms": (
        "ClipTooShortError", "from_model_tensor", "resample_indices", "resize_and_crop",
        "to_model_tensor",
    ),
    "sorakit.data.video": (
        "Video", "VideoInfo", "VideoReadError", "probe", "read_video", "write_video",
    ),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)
