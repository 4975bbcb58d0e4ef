"""Tests for sorakit.data on real files: clips written with write_video, then broken on purpose."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from sorakit.data import (
    Bucket,
    BucketBatchSampler,
    BucketConfig,
    ClipTooShortError,
    ManifestError,
    ManifestRow,
    SkippedSample,
    VideoDataset,
    VideoInfo,
    check_manifest,
    collate_videos,
    format_problem,
    from_model_tensor,
    make_dataloader,
    read_manifest,
    read_video,
    resample_indices,
    resize_and_crop,
    to_model_tensor,
    write_manifest,
    write_video,
)

CODE_BITS = 8  # frame index written as 8 black/white blocks, robust to lossy H.264


def coded_frames(num_frames: int, height: int = 64, width: int = 64) -> np.ndarray:
    """(T, H, W, 3) uint8: the top 16 rows encode the frame index in binary; a square moves."""
    frames = np.full((num_frames, height, width, 3), 40, dtype=np.uint8)
    block = width // CODE_BITS
    for t in range(num_frames):
        for bit in range(CODE_BITS):
            if (t >> bit) & 1:
                frames[t, :16, bit * block : (bit + 1) * block] = 255
        x = t % (width - 10)
        frames[t, 30:40, x : x + 10] = (200, 50, 50)
    return frames


def frame_codes(frames: np.ndarray | torch.Tensor) -> np.ndarray:
    """The frame indices written by coded_frames, read back from (T, H, W, 3) uint8 frames."""
    frames = np.asarray(frames)
    num_frames, _, width, _ = frames.shape
    block = width // CODE_BITS
    top = frames[:, :16, : block * CODE_BITS].astype(np.float64)
    means = top.reshape(num_frames, 16, CODE_BITS, block, 3).mean(axis=(1, 3, 4))
    return ((means > 128) * (1 << np.arange(CODE_BITS))).sum(axis=1)


def remux_faststart(src: Path, dst: Path) -> None:
    """Copy an MP4 with its index (moov) first, so a cut copy still has a readable header."""
    with (
        av.open(str(src)) as inp,
        av.open(str(dst), "w", format="mp4", options={"movflags": "faststart"}) as out,
    ):
        stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(stream)
        for packet in inp.demux(stream):
            if packet.dts is None:  # the demuxer's final flush packet
                continue
            packet.stream = out_stream
            out.mux(packet)


def cut(src: Path, dst: Path, fraction: float) -> None:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset folder with good and broken media under clips/."""
    root = tmp_path_factory.mktemp("media")
    clips = root / "clips"
    clips.mkdir()
    write_video(clips / "clean.mp4", coded_frames(48), fps=24)  # 2 s
    write_video(clips / "slow.mp4", coded_frames(16), fps=8)  # 2 s
    write_video(clips / "wide.mp4", coded_frames(24, 36, 64), fps=24)
    write_video(clips / "image.png", coded_frames(1, 48, 64), fps=1)
    cut(clips / "clean.mp4", clips / "truncated.mp4", 0.4)  # index at the end: header lost
    remux_faststart(clips / "clean.mp4", root / "faststart.mp4")
    cut(root / "faststart.mp4", clips / "truncated_body.mp4", 0.4)  # header fine, frames cut
    (clips / "text.mp4").write_text("this is not a video\n")
    (clips / "empty.mp4").write_bytes(b"")
    return root


def jsonl(path: Path, records: list[dict | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- manifest -----------------------------------------------------------------------------------


def test_manifest_jsonl_and_csv_agree(tmp_path: Path) -> None:
    jsonl(
        tmp_path / "m.jsonl",
        [
            {"path": "clips/a.mp4", "caption": "a red square", "fps": 12, "width": "64"},
            {"path": "/abs/b.mp4", "caption": 'says "hi", twice', "start": 0.5, "end": 1.5},
            {"path": "c.png", "caption": "an image", "annotation": ""},
        ],
    )
    (tmp_path / "m.csv").write_text(
        "path,caption,fps,start,end,width,annotation\n"
        "clips/a.mp4,a red square,12,,,64,\n"
        '/abs/b.mp4,"says ""hi"", twice",,0.5,1.5,,\n'
        "c.png,an image,,,,,\n"
    )
    from_jsonl, problems_jsonl = read_manifest(tmp_path / "m.jsonl")
    from_csv, problems_csv = read_manifest(tmp_path / "m.csv")
    assert problems_jsonl == problems_csv == []

    def core(row: ManifestRow) -> tuple:
        return row.path, row.caption, row.fps, row.start, row.end

    assert [core(r) for r in from_jsonl] == [core(r) for r in from_csv]
    assert from_jsonl[0].path == tmp_path / "clips/a.mp4"  # relative to the manifest's folder
    assert from_jsonl[1].path == Path("/abs/b.mp4")
    assert (from_jsonl[1].start, from_jsonl[1].end) == (0.5, 1.5)
    assert from_jsonl[0].extra == {"width": "64"} and from_csv[0].extra["width"] == "64"
    # Row numbers are file lines: the CSV header is line 1.
    assert [r.row for r in from_jsonl] == [1, 2, 3]
    assert [r.row for r in from_csv] == [2, 3, 4]


def test_manifest_bad_rows_become_problems_with_row_numbers(tmp_path: Path) -> None:
    good = {"path": "a.mp4", "caption": "fine", "num_frames": 48, "annotation": {"boxes": []}}
    jsonl(
        tmp_path / "m.jsonl",
        [
            good,  # 1
            "",  # 2: blank, ignored
            "{not json",  # 3
            {"path": "a.mp4"},  # 4: no caption
            {"path": "", "caption": "x"},  # 5
            {"path": "a.mp4", "caption": "x", "fps": "fast"},  # 6
            {"path": "a.mp4", "caption": "x", "fps": 0},  # 7
            {"path": "a.mp4", "caption": "x", "start": -1},  # 8
            {"path": "a.mp4", "caption": "x", "start": 2, "end": 2},  # 9
            "[1, 2]",  # 10
            good,  # 11
        ],
    )
    rows, problems = read_manifest(tmp_path / "m.jsonl")
    assert [r.row for r in rows] == [1, 11]
    assert rows[0].extra == {"num_frames": 48, "annotation": {"boxes": []}}
    found = {p.row: p.message for p in problems}
    assert sorted(found) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "invalid JSON" in found[3]
    assert "caption" in found[4] and "path" in found[5]
    assert "fps" in found[6] and "positive" in found[7]
    assert "start" in found[8] and "end" in found[9]

    (tmp_path / "m.csv").write_text(
        "path,caption,fps,start,end\na.mp4,ok,,,\n\nb.mp4,,,,\nc.mp4,x,abc,,\nd.mp4,x,,3,1\n"
    )
    rows, problems = read_manifest(tmp_path / "m.csv")
    assert [r.row for r in rows] == [2]
    assert [p.row for p in problems] == [4, 5, 6]


def test_manifest_file_errors_raise_one_line(tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_text("path,caption\n")
    (tmp_path / "m.csv").write_text("file,text\na.mp4,x\n")
    for name in ("m.txt", "missing.jsonl", "m.csv"):
        with pytest.raises(ManifestError) as info:
            read_manifest(tmp_path / name)
        assert "\n" not in str(info.value) and name in str(info.value)


def test_write_manifest_round_trips_and_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old contents\n")
    rows = [
        {"path": tmp_path / "a.mp4", "caption": "ünïcode", "fps": 8.0, "num_frames": 3},
        ManifestRow(tmp_path / "b.png", "an image", row=7, extra={"width": 64}).to_dict(),
    ]
    write_manifest(target, rows)
    back, problems = read_manifest(target)
    assert problems == []
    assert [(r.path, r.caption, r.fps) for r in back] == [
        (tmp_path / "a.mp4", "ünïcode", 8.0),
        (tmp_path / "b.png", "an image", None),
    ]
    assert back[0].extra == {"num_frames": 3} and back[1].extra == {"width": 64}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # no temp file left
    with pytest.raises(TypeError):
        write_manifest(target, [{"path": "a.mp4", "caption": "x", "bad": object()}])
    assert len(read_manifest(target)[0]) == 2  # a failed write leaves the old file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


# --- transforms ---------------------------------------------------------------------------------


def test_resample_down_takes_every_third_frame(media: Path) -> None:
    video = read_video(media / "clips/clean.mp4")
    assert list(frame_codes(video.frames)) == list(range(48))  # the code survives encoding
    picked = frame_codes(video.frames[resample_indices(video.times, 8, None)])
    assert list(picked) == list(range(0, 48, 3))
    picked = frame_codes(video.frames[resample_indices(video.times, 8, 5, start=0.5)])
    assert list(picked) == [12, 15, 18, 21, 24]
    assert list(resample_indices(video.times, 24, None)) == list(range(48))


def test_resample_up_repeats_frames(media: Path) -> None:
    video = read_video(media / "clips/slow.mp4")
    codes = frame_codes(video.frames[resample_indices(video.times, 24, None)])
    assert len(codes) == 48  # 2 s at 24 fps
    assert np.all(np.diff(codes) >= 0) and set(codes) == set(range(16))
    assert list(codes[::3]) == list(range(16))  # target times that coincide with source frames
    assert np.bincount(codes).max() <= 4


def test_resample_rejects_a_too_short_source() -> None:
    times = np.arange(48) / 24
    with pytest.raises(ClipTooShortError):
        resample_indices(times, 8, 17)
    with pytest.raises(ValueError):
        resample_indices(times, 8, 1, start=2.5)
    assert len(resample_indices(times, 8, 16)) == 16


def test_resize_and_crop_keeps_a_centred_marker_centred() -> None:
    for height, width in ((40, 80), (80, 40), (20, 20)):
        frame = np.zeros((2, height, width, 3), dtype=np.uint8)
        cy, cx = height // 2, width // 2
        frame[:, cy - 4 : cy + 4, cx - 4 : cx + 4] = 255
        for frames in (frame, torch.from_numpy(frame)):
            out = resize_and_crop(frames, 32, 48)
            assert out.shape == (2, 32, 48, 3) and out.dtype == torch.uint8
            weight = out[0, :, :, 0].double()
            ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(48.0), indexing="ij")
            centre_y = float((weight * ys).sum() / weight.sum())
            centre_x = float((weight * xs).sum() / weight.sum())
            assert abs(centre_y - 15.5) < 1.0 and abs(centre_x - 23.5) < 1.0


def test_model_tensor_layout_range_and_round_trip() -> None:
    frames = torch.randint(0, 256, (3, 8, 10, 3), dtype=torch.uint8)
    video = to_model_tensor(frames)
    assert video.shape == (3, 3, 8, 10) and video.dtype == torch.float32
    assert video.min() >= -1 and video.max() <= 1
    assert torch.equal(video[:, 1], frames[1].permute(2, 0, 1) / 127.5 - 1)
    assert torch.equal(from_model_tensor(video), frames)
    assert torch.equal(
        from_model_tensor(torch.full((3, 1, 1, 1), 3.0)), torch.full((1, 1, 1, 3), 255)
    )
    assert torch.equal(from_model_tensor(torch.full((3, 1, 1, 1), -3.0)), torch.zeros(1, 1, 1, 3))


# --- buckets ------------------------------------------------------------------------------------


def test_bucket_assign_picks_closest_aspect_then_longest_fill() -> None:
    config = BucketConfig.preset("world64")

    def clip(width: int, height: int, seconds: float) -> VideoInfo:
        return VideoInfo(width, height, 30.0, round(seconds * 30), seconds)

    assert config.assign(clip(1920, 1080, 10), fps=8) == Bucket(40, 72, 33)
    assert config.assign(clip(1080, 1920, 10), fps=8) == Bucket(72, 40, 33)
    assert config.assign(clip(640, 480, 10), fps=8) == Bucket(48, 64, 33)
    assert config.assign(clip(500, 520, 10), fps=8) == Bucket(64, 64, 33)
    assert config.assign(clip(640, 480, 1.5), fps=8) == Bucket(48, 64, 9)  # 12 frames
    assert config.assign(clip(640, 480, 10), fps=8, start=0, end=2.2) == Bucket(48, 64, 17)
    assert config.assign(clip(640, 480, 10), fps=8, start=9.5) == Bucket(48, 64, 1)
    assert config.assign(clip(640, 480, 10), fps=8, start=10) is None
    image = VideoInfo(640, 480, None, 1, 0.0)
    assert config.assign(image, fps=8) == Bucket(48, 64, 1)
    assert BucketConfig.from_sizes([(64, 64)], [9, 17]).assign(image, fps=8) is None
    assert Bucket(64, 64, 33).tokens((4, 8, 8)) == 9 * 8 * 8
    assert Bucket(36, 64, 1).aspect == pytest.approx(16 / 9)


def test_multi_scale_buckets_keep_each_clip_at_its_own_scale() -> None:
    multi = BucketConfig.preset("world-multi")

    def clip(width: int, height: int) -> VideoInfo:
        return VideoInfo(width, height, 8.0, 17, 2.125)

    assert multi.assign(clip(64, 64), fps=8) == Bucket(64, 64, 17)
    assert multi.assign(clip(128, 96), fps=8) == Bucket(96, 128, 17)
    assert multi.assign(clip(72, 40), fps=8) == Bucket(40, 72, 17)
    assert multi.assign(clip(1920, 1080), fps=8) == Bucket(72, 128, 17)  # the larger scale
    assert multi.assign(clip(90, 90), fps=8) == Bucket(64, 64, 17)  # nearer 64 than 128
    # One scale alone: a large clip still goes to it, as before.
    assert BucketConfig.preset("world64").assign(clip(128, 128), fps=8) == Bucket(64, 64, 17)


@pytest.mark.parametrize("command", ["preprocess", "train-vae"])
def test_bucket_help_names_every_preset(command) -> None:
    # The CLIs list the presets by hand (no torch import for --help); this keeps them in step.
    from typer.testing import CliRunner

    from sorakit.cli.main import app
    from sorakit.data.buckets import PRESETS

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    line = next(x for x in result.output.splitlines() if "--buckets" in x)
    assert all(name in line for name in PRESETS), line


def sampler_buckets() -> list[Bucket | None]:
    a, b, c = Bucket(64, 64, 9), Bucket(36, 64, 17), Bucket(64, 64, 1)
    return [a] * 7 + [None] * 2 + [b] * 5 + [c] * 3 + [a, None, b]


def test_bucket_sampler_batches_share_a_bucket_and_cover_each_index_once() -> None:
    bucket_of = sampler_buckets()
    assigned = [i for i, b in enumerate(bucket_of) if b is not None]
    for drop_last in (False, True):
        sampler = BucketBatchSampler(bucket_of, batch_size=2, seed=3, drop_last=drop_last)
        for epoch in range(3):
            sampler.set_epoch(epoch)
            batches = list(sampler)
            assert len(batches) == len(sampler)
            assert all(len({bucket_of[i] for i in batch}) == 1 for batch in batches)
            flat = sorted(i for batch in batches for i in batch)
            if drop_last:
                assert all(len(batch) == 2 for batch in batches)
                assert len(flat) == len(set(flat)) == 2 * len(batches)
                assert set(flat) <= set(assigned)
            else:
                assert flat == assigned


def test_bucket_sampler_is_deterministic_per_seed_and_epoch() -> None:
    def epoch_batches(seed: int, epoch: int) -> list[list[int]]:
        sampler = BucketBatchSampler(sampler_buckets(), batch_size=2, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert epoch_batches(0, 5) == epoch_batches(0, 5)
    assert epoch_batches(0, 5) != epoch_batches(0, 6)
    assert epoch_batches(0, 5) != epoch_batches(1, 5)
    ordered = BucketBatchSampler(sampler_buckets(), batch_size=2, shuffle=False)
    # Unshuffled: buckets in sorted order, indices ascending inside each.
    assert list(ordered) == [
        [9, 10],
        [11, 12],
        [13, 19],
        [14, 15],
        [16],
        [0, 1],
        [2, 3],
        [4, 5],
        [6, 17],
    ]


def test_bucket_sampler_resumes_from_state_dict() -> None:
    sampler = BucketBatchSampler(sampler_buckets(), batch_size=2, seed=7)
    sampler.set_epoch(2)
    full = list(sampler)
    assert sampler.state_dict() == {"epoch": 3, "batches_yielded": 0}  # a full pass moves on

    sampler.set_epoch(2)
    it = iter(sampler)
    first = [next(it) for _ in range(3)]
    state = sampler.state_dict()
    assert first == full[:3] and state == {"epoch": 2, "batches_yielded": 3}

    resumed = BucketBatchSampler(sampler_buckets(), batch_size=2, seed=7)
    resumed.load_state_dict(state)
    resumed.set_epoch(2)  # the usual epoch loop call must not rewind a resumed epoch
    assert list(resumed) == full[3:]
    with pytest.raises(ValueError):
        resumed.load_state_dict({"epoch": 0, "batches_yielded": len(full) + 1})


# --- check --------------------------------------------------------------------------------------


def test_check_manifest_reports_each_bad_file_with_its_row(media: Path) -> None:
    manifest = jsonl(
        media / "check.jsonl",
        [
            {"path": "clips/clean.mp4", "caption": "fine"},  # 1
            {"path": "clips/truncated.mp4", "caption": "x"},  # 2
            {"path": "clips/text.mp4", "caption": "x"},  # 3
            {"path": "clips/empty.mp4", "caption": "x"},  # 4
            {"path": "clips/missing.mp4", "caption": "x"},  # 5
            {"path": "clips/image.png", "caption": "fine"},  # 6
            {"path": "clips/truncated_body.mp4", "caption": "x"},  # 7
            {"path": "clips/clean.mp4", "caption": "x", "start": 5.0},  # 8
            {"path": "clips/clean.mp4", "caption": "x", "start": 1.0, "end": 1.5},  # 9: fine
            "{oops",  # 10
        ],
    )
    problems = check_manifest(manifest)
    assert [p.row for p in problems] == [2, 3, 4, 5, 7, 8, 10]
    by_row = {p.row: p for p in problems}
    assert by_row[2].path == Path("clips/truncated.mp4")
    assert "not a readable video" in by_row[2].message
    assert "not a readable video" in by_row[3].message
    assert format_problem(by_row[4]) == "row 4: clips/empty.mp4: file is empty"
    assert format_problem(by_row[5]) == "row 5: clips/missing.mp4: no such file"
    assert "not a readable video" in by_row[7].message  # header is fine: only decoding finds it
    assert "beyond the clip end" in by_row[8].message
    assert by_row[10].path is None and format_problem(by_row[10]).startswith("row 10: invalid JSON")
    assert all("\n" not in format_problem(p) for p in problems)


def test_check_manifest_is_silent_for_a_clean_manifest(media: Path) -> None:
    manifest = jsonl(
        media / "clean.jsonl",
        [
            {"path": "clips/clean.mp4", "caption": "a"},
            {"path": "clips/slow.mp4", "caption": "b", "fps": 4},
            {"path": str(media / "clips/wide.mp4"), "caption": "c", "start": 0.5},
            {"path": "clips/image.png", "caption": "d"},
        ],
    )
    assert check_manifest(manifest) == []


# --- dataset ------------------------------------------------------------------------------------


def dataset_manifest(media: Path) -> Path:
    return jsonl(
        media / "train.jsonl",
        [
            {"path": "clips/clean.mp4", "caption": "clean one"},  # 0
            {"path": "clips/truncated.mp4", "caption": "no header"},  # 1
            {"path": "clips/text.mp4", "caption": "text"},  # 2
            {"path": "clips/clean.mp4", "caption": "clean two", "start": 0.5},  # 3
            {"path": "clips/empty.mp4", "caption": "empty"},  # 4
            {"path": "clips/missing.mp4", "caption": "missing"},  # 5
            {"path": "clips/image.png", "caption": "still"},  # 6
            {"path": "clips/truncated_body.mp4", "caption": "cut body"},  # 7
            {"path": "clips/wide.mp4", "caption": "wide"},  # 8
        ],
    )


def test_dataset_skips_bad_rows_and_collate_counts_them(
    media: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows, _ = read_manifest(dataset_manifest(media))
    with caplog.at_level(logging.WARNING, logger="sorakit.data.dataset"):
        dataset = VideoDataset(rows, fps=8, buckets=BucketConfig.preset("world64"))
    logged = [r for r in caplog.records if r.name == "sorakit.data.dataset"]
    assert sorted(dataset.unusable) == [1, 2, 4, 5]  # unreadable headers: never sampled
    assert len(logged) == 1 and "4 of 9 rows" in logged[0].getMessage()
    assert dataset.bucket_of[0] == Bucket(64, 64, 9)  # 2 s at 8 fps = 16 frames
    assert dataset.bucket_of[3] == Bucket(64, 64, 9)  # 1.5 s = 12 frames
    assert dataset.bucket_of[6] == Bucket(48, 64, 1)
    assert dataset.bucket_of[7] == Bucket(64, 64, 9)  # header says 2 s: looks fine
    assert dataset.bucket_of[8] == Bucket(40, 72, 1)  # 1 s at 8 fps = 8 frames

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sorakit.data.dataset"):
        items = [dataset[i] for i in range(len(dataset))]
    skipped = [item.index for item in items if isinstance(item, SkippedSample)]
    assert skipped == [1, 2, 4, 5, 7]
    # Only the decode-time failure logs now, as one line with the path and no traceback.
    logged = [r for r in caplog.records if r.name == "sorakit.data.dataset"]
    assert len(logged) == 1
    record = logged[0]
    assert "truncated_body.mp4" in record.getMessage() and "\n" not in record.getMessage()
    assert record.exc_info is None

    clean = items[0]
    assert isinstance(clean, dict)
    assert clean["video"].shape == (3, 9, 64, 64) and clean["caption"] == "clean one"
    assert list(frame_codes(from_model_tensor(clean["video"]))) == list(range(0, 27, 3))
    later = items[3]
    assert isinstance(later, dict)
    assert list(frame_codes(from_model_tensor(later["video"]))) == list(range(12, 39, 3))
    assert items[6]["video"].shape == (3, 1, 48, 64)  # an image is one frame

    batch = collate_videos([items[0], items[7], items[3], items[1]])
    assert batch["video"].shape == (2, 3, 9, 64, 64)
    assert batch["caption"] == ["clean one", "clean two"] and batch["index"] == [0, 3]
    assert batch["fps"].tolist() == [8.0, 8.0] and batch["skipped"] == 2
    empty = collate_videos([items[7]])
    assert empty["video"] is None and empty["skipped"] == 1 and empty["index"] == []
    with pytest.raises(ValueError, match="share a bucket"):
        collate_videos([items[0], items[6]])


def test_dataset_fixed_size_and_row_fps_override(media: Path) -> None:
    rows = [
        ManifestRow(media / "clips/clean.mp4", "as declared", row=1),
        # Declared 24 fps, but the row says the frames are 12 fps: 4 s of content.
        ManifestRow(media / "clips/clean.mp4", "slowed", fps=12.0, start=1.0, row=2),
        ManifestRow(media / "clips/image.png", "still", row=3),
    ]
    dataset = VideoDataset(rows, fps=12, size=(17, 64, 64))
    assert dataset.bucket_of[:2] == [Bucket(64, 64, 17)] * 2
    assert dataset.bucket_of[2] is None  # one image cannot fill 17 frames
    first, second = dataset[0], dataset[1]
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["video"].shape == second["video"].shape == (3, 17, 64, 64)
    # 24 -> 12 fps takes every other frame; the override makes every frame 1/12 s long.
    assert list(frame_codes(from_model_tensor(first["video"]))) == list(range(0, 34, 2))
    assert list(frame_codes(from_model_tensor(second["video"]))) == list(range(12, 29))
    with pytest.raises(ValueError):
        VideoDataset(rows, fps=12)


def test_make_dataloader_survives_bad_data(media: Path) -> None:
    loader = make_dataloader(dataset_manifest(media), fps=8, buckets="world64", batch_size=2)
    seen, skipped = [], 0
    for batch in loader:
        skipped += batch["skipped"]
        seen += batch["index"]
        if batch["video"] is not None:
            assert batch["video"].shape[0] == len(batch["index"])
    assert sorted(seen) == [0, 3, 6, 8] and skipped == 1
    assert loader.batch_sampler.state_dict() == {"epoch": 1, "batches_yielded": 0}


def test_atomic_writes_give_the_permissions_a_plain_write_would(tmp_path: Path) -> None:
    """Temporary files are private (0600, 0700); what is renamed into place must not be: a
    video only its maker's account could read surprised users."""
    import os
    import stat

    from sorakit.fileio import atomic_folder, atomic_write

    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.txt", lambda p: p.write_text("x"))
        atomic_folder(tmp_path / "model", {"config.json": lambda p: p.write_text("{}")})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o755
