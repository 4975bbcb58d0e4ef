"""A manifest row's clip: the file's frames on the row's timeline.

A row can override the frame rate the file declares (``fps``) and select a time range
(``start`` / ``end``). Both are read on the row's timeline: with an override, frame i of the file
is at ``i / row.fps`` seconds, whatever the container says. The dataset and the checker both go
through these two functions so they agree on what a row means.
"""

from __future__ import annotations

from dataclasses import replace

from sorakit.data.manifest import ManifestRow
from sorakit.data.video import Video, VideoInfo, read_video


def row_info(row: ManifestRow, info: VideoInfo) -> VideoInfo:
    """The file's header info as the row sees it: fps and duration under the row's override."""
    if row.fps is None or info.is_image:
        return info
    return replace(info, fps=row.fps, duration=info.duration * info.fps / row.fps)


def read_clip(row: ManifestRow, info: VideoInfo, max_seconds: float | None = None) -> Video:
    """Decode the frames the row selects, with times in seconds on the row's timeline.

    Args:
        row: the manifest row; its ``start`` / ``end`` are ignored for images.
        info: the file's header, from ``probe(row.path)``.
        max_seconds: decode at most this many seconds after the row's start, so a sample
            of a few frames from a long file does not decode (and hold) all of it.

    Raises:
        VideoReadError: the file cannot be decoded or holds no frames in the range.
    """
    if info.is_image:
        return read_video(row.path)
    start = row.start or 0.0
    end = row.end
    if max_seconds is not None:
        end = start + max_seconds if end is None else min(end, start + max_seconds)
    # Row seconds per container second: 1 unless the row overrides the declared rate.
    stretch = 1.0 if row.fps is None else info.fps / row.fps
    video = read_video(row.path, start / stretch, None if end is None else end / stretch)
    return Video(frames=video.frames, times=video.times * stretch, fps=row.fps or video.fps)
