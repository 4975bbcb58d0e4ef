"""Frame-level transforms: pick frames at a target rate, resize and crop, scale to model range.

Frames on the data side are uint8 (T, H, W, 3), as decoded. The model side is float
(C, T, H, W) in [-1, 1], the layout video VAEs and 3D convolutions expect.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# A target frame counts as inside the source when it starts at least this fraction of a target
# frame before the source ends. The slack absorbs timestamp rounding (e.g. millisecond time
# bases), which would otherwise add a spurious extra frame or drop the last one.
_FIT_TOLERANCE_FRAMES = 1e-2

# Frames are resized this many at a time so a long high-resolution clip never becomes one huge
# float tensor (33 frames of 1080p in float32 is ~800 MB).
_RESIZE_CHUNK = 8


class ClipTooShortError(ValueError):
    """The source does not cover the number of frames asked for."""


def frames_that_fit(seconds: float, fps: float) -> int:
    """How many frames at ``fps``, starting at time 0, begin before ``seconds`` ends."""
    return max(0, math.ceil(seconds * fps - _FIT_TOLERANCE_FRAMES))


def resample_indices(
    src_times: np.ndarray, target_fps: float, num_frames: int | None, start: float = 0.0
) -> np.ndarray:
    """Indices into the source frames for ``num_frames`` frames at ``target_fps``.

    Target frame k is at ``start + k / target_fps`` seconds and takes the source frame whose
    timestamp is nearest (ties go to the earlier frame). Lower target rates skip frames, higher
    ones repeat them. The source spans from its first timestamp to one frame duration past its
    last, since the last frame stays on screen that long; a single-frame source spans one target
    frame. ``num_frames=None`` takes as many frames as fit in that span.

    Args:
        src_times: (T,) increasing source timestamps in seconds.
        target_fps: frames per second of the output.
        num_frames: how many output frames; None for all that fit.
        start: time of the first output frame, in the same seconds as ``src_times``.

    Returns:
        (num_frames,) int64 indices into the source frames.

    Raises:
        ClipTooShortError (a ValueError): the span after ``start`` holds fewer than
            ``num_frames`` frames, or none at all.
    """
    times = np.asarray(src_times, dtype=np.float64)
    if times.ndim != 1 or times.size == 0:
        raise ValueError(f"src_times must be a non-empty 1-D array, got shape {times.shape}")
    if not target_fps > 0:
        raise ValueError(f"target_fps must be positive, got {target_fps}")
    if times.size > 1:
        # The median ignores the odd long or short frame of variable-rate files.
        frame_duration = float(np.median(np.diff(times)))
        if frame_duration <= 0:
            raise ValueError("src_times must be increasing")
    else:
        frame_duration = 1.0 / target_fps
    if num_frames is not None and num_frames < 1:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    span = times[-1] + frame_duration - start
    fit = frames_that_fit(span, target_fps)
    needed = 1 if num_frames is None else num_frames
    if fit < needed:
        raise ClipTooShortError(
            f"clip has {max(span, 0.0):.3f}s after {start:.3f}s, which holds {fit} frames at "
            f"{target_fps:g} fps; need {needed}"
        )
    wanted = fit if num_frames is None else num_frames

    targets = start + np.arange(wanted) / target_fps
    if times.size == 1:
        return np.zeros(wanted, dtype=np.int64)
    # Compare each target with its neighbours on either side.
    right = np.clip(np.searchsorted(times, targets), 1, times.size - 1)
    left = right - 1
    # 1 ns of slack so float noise on an exact midpoint still resolves to the earlier frame.
    take_right = times[right] - targets < targets - times[left] - 1e-9
    return np.where(take_right, right, left).astype(np.int64)


def resize_and_crop(frames: np.ndarray | torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Scale frames to cover ``height`` x ``width``, keeping aspect ratio, then centre-crop.

    Scaling uses bilinear interpolation with antialiasing, so downscaling does not alias.

    Args:
        frames: (T, H, W, 3) uint8, numpy or torch.
        height, width: output size in pixels.

    Returns:
        (T, height, width, 3) uint8 torch tensor.
    """
    video = torch.as_tensor(frames)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != torch.uint8:
        raise ValueError(
            f"frames must be (T, H, W, 3) uint8, got {tuple(video.shape)} {video.dtype}"
        )
    if height < 1 or width < 1:
        raise ValueError(f"output size must be positive, got {height}x{width}")
    src_h, src_w = video.shape[1:3]
    scale = max(height / src_h, width / src_w)
    # max() guards the covered side against rounding down below the crop size.
    new_h, new_w = max(height, round(src_h * scale)), max(width, round(src_w * scale))
    if (new_h, new_w) != (src_h, src_w):
        video = torch.cat([_resize(chunk, new_h, new_w) for chunk in video.split(_RESIZE_CHUNK)])
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return video[:, top : top + height, left : left + width].contiguous()


def crop_note(src_width: int, src_height: int, width: int, height: int) -> str | None:
    """What `resize_and_crop` cuts from a src frame to make width x height, in words; None
    when it only scales (under half a percent cut)."""
    scale = max(height / src_height, width / src_width)
    kept_w, kept_h = width / scale / src_width, height / scale / src_height
    if min(kept_w, kept_h) > 0.995:
        return None
    side, kept = ("width", kept_w) if kept_w < kept_h else ("height", kept_h)
    return f"cropped to the middle {kept:.0%} of its {side}"


def _resize(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, height, width, 3) uint8."""
    x = frames.permute(0, 3, 1, 2).float()  # (T, 3, H, W): interpolate wants channels first
    x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def to_model_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (C, T, H, W) float32 in [-1, 1]."""
    video = torch.as_tensor(frames)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != torch.uint8:
        raise ValueError(
            f"frames must be (T, H, W, 3) uint8, got {tuple(video.shape)} {video.dtype}"
        )
    return video.permute(3, 0, 1, 2).float().div(127.5).sub(1.0).contiguous()


def from_model_tensor(video: torch.Tensor) -> torch.Tensor:
    """(C, T, H, W) float in [-1, 1] -> (T, H, W, 3) uint8; values outside [-1, 1] are clipped."""
    if video.ndim != 4 or video.shape[0] != 3:
        raise ValueError(f"video must be (3, T, H, W), got {tuple(video.shape)}")
    pixels = video.detach().float().clamp(-1.0, 1.0).add(1.0).mul(127.5).round()
    return pixels.to(torch.uint8).permute(1, 2, 3, 0).contiguous()
