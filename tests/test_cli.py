"""The `sorakit` command: synth writes, resumes and reproduces; check finds problems by row."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sorakit.cli.main import app

runner = CliRunner()


def _synth(out, *extra):
    args = ["data", "synth", "--out", str(out), "--num", "3", "--seed", "5", "--workers", "1"]
    return runner.invoke(app, [*args, "--frames", "1,9", *extra])


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted((folder / "clips").iterdir())}


def test_synth_writes_manifest_and_is_reproducible(tmp_path):
    assert _synth(tmp_path / "a").exit_code == 0
    assert _synth(tmp_path / "b").exit_code == 0
    rows = [
        json.loads(line) for line in (tmp_path / "a" / "manifest.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 3
    for row in rows:
        assert (tmp_path / "a" / row["path"]).exists()
        annotation = json.loads((tmp_path / "a" / row["annotation"]).read_text())
        assert annotation["caption"] == row["caption"]
        assert len(annotation["frames"]) == row["num_frames"]
    assert _snapshot(tmp_path / "a") == _snapshot(tmp_path / "b")


def test_synth_resumes_without_redoing_finished_clips(tmp_path):
    out = tmp_path / "run"
    assert _synth(out).exit_code == 0
    before = _snapshot(out)
    finished = sorted((out / "clips").glob("*.json"))
    finished[1].unlink()  # as if the run died before clip 1's annotation was written
    stamp = {p: p.stat().st_mtime_ns for p in finished if p.exists()}
    (out / "clips" / ".tmp-000002.mp4").write_bytes(b"half a file")
    result = _synth(out)
    assert result.exit_code == 0, result.output
    assert "1 clips" in result.output and "2 already there" in result.output
    assert all(p.stat().st_mtime_ns == t for p, t in stamp.items())
    assert _snapshot(out) == before  # the redone clip is identical, the debris is gone


def test_synth_rejects_bad_options_with_one_clear_line(tmp_path):
    result = _synth(tmp_path, "--size", "63x64")
    assert result.exit_code == 2
    assert "even" in result.output and "Traceback" not in result.output


def test_check_passes_clean_and_reports_rows(tmp_path):
    assert _synth(tmp_path).exit_code == 0
    manifest = tmp_path / "manifest.jsonl"
    assert runner.invoke(app, ["data", "check", str(manifest)]).exit_code == 0
    (tmp_path / "clips" / "fake.mp4").write_text("not a video")
    with manifest.open("a") as f:
        f.write(json.dumps({"path": "clips/fake.mp4", "caption": "x"}) + "\n")
        f.write(json.dumps({"path": "clips/missing.mp4", "caption": "x"}) + "\n")
    result = runner.invoke(app, ["data", "check", str(manifest)])
    assert result.exit_code == 1
    assert "row 4: clips/fake.mp4" in result.output
    assert "row 5: clips/missing.mp4: no such file" in result.output
    missing = runner.invoke(app, ["data", "check", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "Traceback" not in missing.output


def test_vocab_lists_every_caption_word(tmp_path):
    result = runner.invoke(app, ["data", "vocab"])
    assert result.exit_code == 0
    vocab = json.loads(result.stdout)
    assert set(vocab["palette"]) == {
        "red",
        "orange",
        "yellow",
        "green",
        "cyan",
        "blue",
        "purple",
        "white",
    }
    assert {"ball", "box", "then", "left", "bounces"} <= set(vocab["words"])


def test_reconstruct_uses_the_shipped_vae_and_keeps_size_and_rate(tmp_path):
    from sorakit.data.video import read_video, write_video
    from sorakit.world.clip import render_clip

    clip = render_clip(seed=1, width=40, height=24, fps=12.0, num_frames=6)
    write_video(tmp_path / "in.mp4", clip.frames, 12.0)
    result = runner.invoke(
        app, ["reconstruct", str(tmp_path / "in.mp4"), "--out", str(tmp_path / "o.mp4")]
    )
    assert result.exit_code == 0, result.output
    assert "40x24, 5 frames: PSNR" in result.output  # cropped to 1 + 4k frames
    out = read_video(tmp_path / "o.mp4")
    assert out.frames.shape == (5, 24, 40, 3) and out.fps == 12.0

    bad = runner.invoke(
        app,
        [
            "reconstruct",
            str(tmp_path / "in.mp4"),
            "--out",
            str(tmp_path / "x.mp4"),
            "--model",
            str(tmp_path),
        ],
    )
    said = " ".join(bad.output.replace("│", " ").split())  # unwrap the error box
    assert bad.exit_code != 0 and "not a VAE or model folder" in said
    assert "Traceback" not in bad.output
