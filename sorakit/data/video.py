"""Reading and writing videos and images as uint8 frame arrays.

Frames are always numpy arrays of shape (T, H, W, 3), dtype uint8, RGB. An image file is read
as a 1-frame video. Decoding uses PyAV; encoding writes H.264 (yuv420p) MP4 deterministically,
so the same frames always give the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})


class VideoReadError(RuntimeError):
    """A file could not be read as a video or image; the message says why in one line."""


@dataclass(frozen=True)
class VideoInfo:
    """What a file holds, read from its header without decoding every frame."""

    width: int
    height: int
    fps: float | None  # None for still images
    num_frames: int
    duration: float  # seconds; 0.0 for still images

    @property
    def is_image(self) -> bool:
        return self.fps is None


@dataclass
class Video:
    """Decoded frames and the time of each frame in seconds from the start of the file."""

    frames: np.ndarray  # (T, H, W, 3) uint8
    times: np.ndarray  # (T,) float64, seconds
    fps: float | None  # None for still images


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoReadError(f"{path}: no such file")
    if path.is_dir():
        raise VideoReadError(f"{path}: is a directory, not a video")
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path}: file is empty")


def check_frame_size(path: Path, width: int, height: int, max_pixels: int | None) -> None:
    """VideoReadError naming the limit when a frame holds more than `max_pixels` pixels."""
    if max_pixels is not None and width * height > max_pixels:
        side = int(max_pixels**0.5)
        raise VideoReadError(
            f"{path}: {width}x{height} is {width * height / 1e6:.3g} megapixels a frame; "
            f"the most read here is {max_pixels / 1e6:.3g} ({side}x{side})"
        )


def _read_image(path: Path, max_pixels: int | None = None) -> Video:
    try:
        with Image.open(path) as img:
            check_frame_size(path, *img.size, max_pixels)  # from the header, before decoding
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except VideoReadError:
        raise
    except Exception as exc:  # Pillow raises many types for bad files
        raise VideoReadError(f"{path}: not a readable image ({exc})") from exc
    return Video(frames=rgb[None], times=np.zeros(1), fps=None)


def _video_stream(container, path: Path) -> tuple[av.video.stream.VideoStream, float | None]:
    """The first video stream and its frame rate (None if the file declares none)."""
    if not container.streams.video:
        raise VideoReadError(f"{path}: has no video stream")
    stream = container.streams.video[0]
    return stream, float(stream.average_rate or stream.guessed_rate or 0) or None


def probe(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate and length of a video or image, from its header."""
    path = Path(path)
    _check_file(path)
    if is_image_path(path):
        try:
            with Image.open(path) as img:
                width, height = img.size
        except Exception as exc:
            raise VideoReadError(f"{path}: not a readable image ({exc})") from exc
        return VideoInfo(width, height, None, 1, 0.0)
    try:
        with av.open(str(path)) as container:
            stream, fps = _video_stream(container, path)
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            else:
                duration = 0.0
            num_frames = stream.frames or (round(duration * fps) if fps else 0)
            width, height = stream.codec_context.width, stream.codec_context.height
    except VideoReadError:
        raise
    except Exception as exc:  # PyAV raises FFmpeg errors of many kinds
        raise VideoReadError(f"{path}: not a readable video ({exc})") from exc
    if fps is None or width == 0 or height == 0:
        raise VideoReadError(f"{path}: video stream has no frame rate or size")
    return VideoInfo(width, height, fps, int(num_frames), duration)


def _decode_frames(
    container: av.container.InputContainer, start: float, end: float | None
) -> Iterator[tuple[float, np.ndarray]]:
    stream = container.streams.video[0]
    if start > 0:
        # Seek lands on the keyframe before `start`; frames before it are dropped below.
        container.seek(int(start / stream.time_base), stream=stream, backward=True)
    for frame in container.decode(stream):
        if frame.pts is None:
            continue
        t = float(frame.pts * stream.time_base)
        if t < start - 1e-6:
            continue
        if end is not None and t >= end - 1e-6:
            break
        yield t, frame.to_ndarray(format="rgb24")


def _too_many(path: Path, max_total: int, frames: int, width: int, height: int) -> str:
    return (
        f"{path}: {frames} frames of {width}x{height} is more than the "
        f"{max_total / 1e6:.3g} megapixels in all read here; use a shorter or smaller clip"
    )


def read_video(
    path: str | os.PathLike,
    start: float = 0.0,
    end: float | None = None,
    max_pixels: int | None = None,
    max_total: int | None = None,
) -> Video:
    """Decode a video (or read an image as one frame) between `start` and `end` seconds.

    Raises VideoReadError, with a one-line reason, for missing, empty, truncated or undecodable
    files, for files that decode to no frames, and for frames of more than `max_pixels` pixels
    or more than `max_total` pixels in all (checked as it decodes, so memory stays bounded).
    """
    path = Path(path)
    _check_file(path)
    if is_image_path(path):
        return _read_image(path, max_pixels)
    times, frames = [], []
    total = 0
    try:
        with av.open(str(path)) as container:
            stream, fps = _video_stream(container, path)
            size = stream.codec_context.width, stream.codec_context.height
            check_frame_size(path, *size, max_pixels)
            if max_total is not None and stream.frames * size[0] * size[1] > max_total:
                # From the header; a header that lies is caught frame by frame below.
                raise VideoReadError(_too_many(path, max_total, stream.frames, *size))
            for t, rgb in _decode_frames(container, start, end):
                check_frame_size(path, rgb.shape[1], rgb.shape[0], max_pixels)
                total += rgb.shape[0] * rgb.shape[1]
                if max_total is not None and total > max_total:
                    raise VideoReadError(
                        _too_many(path, max_total, len(frames) + 1, rgb.shape[1], rgb.shape[0])
                    )
                times.append(t)
                frames.append(rgb)
    except VideoReadError:
        raise
    except Exception as exc:
        raise VideoReadError(f"{path}: not a readable video ({exc})") from exc
    if not frames:
        raise VideoReadError(f"{path}: decoded no frames between {start}s and {end}s")
    if fps is None:
        raise VideoReadError(f"{path}: video stream has no frame rate")
    return Video(frames=np.stack(frames), times=np.asarray(times, dtype=np.float64), fps=fps)


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float,
    crf: int = 10,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write (T, H, W, 3) uint8 frames to `path` as H.264 MP4, or as an image if T == 1 and the
    suffix is an image suffix. Height and width must be even (yuv420p chroma subsampling).

    The encoder runs single-threaded with fixed settings so identical frames give identical bytes.
    """
    path = Path(path)
    frames = np.ascontiguousarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if is_image_path(path):
        if frames.shape[0] != 1:
            raise ValueError(f"{path}: an image file holds 1 frame, got {frames.shape[0]}")
        Image.fromarray(frames[0]).save(path)
        return
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"H.264 MP4 needs even height and width, got {width}x{height}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w", format="mp4") as container:
        # Without this flag the muxer stamps nothing time-dependent, but be explicit.
        container.metadata.update({"creation_time": "1970-01-01T00:00:00Z", **(metadata or {})})
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {"crf": str(crf), "preset": "medium", "x264-params": "threads=1"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
