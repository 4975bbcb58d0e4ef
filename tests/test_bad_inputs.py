"""Every bad input gets one clear line and nothing is lost.

Each case runs the `sorakit` command in-process on the corpus of `bad_inputs.py` and checks:
the exit code (2 for the user's error, 1 for an internal one), exactly one line of error that
names the option or file, no traceback, no output left behind (nor a temporary file), and the
inputs unchanged. Media that must keep working run through the same checks with exit code 0.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

import pytest
import torch
from bad_inputs import MEDIA, MODEL_BREAKERS

from sorakit.cli.main import main
from sorakit.fileio import atomic_write
from sorakit.models.dit import DIT_PRESETS, DiT
from sorakit.models.text import TextEncoder
from sorakit.models.vae import VAE_PRESETS, CausalVAE
from sorakit.pipeline import PipelineConfig, TextToVideoPipeline

FAST = ["--steps", "2"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    vae, dit = CausalVAE(VAE_PRESETS["tiny"]), DiT(DIT_PRESETS["tiny"])
    refiner = DiT(DIT_PRESETS["tiny-refiner"])
    config = PipelineConfig(width=16, height=16, frames=9, steps=2, refiner_steps=1)
    folder = tmp_path_factory.mktemp("tiny-model")
    TextToVideoPipeline(
        vae, dit, TextEncoder.from_pretrained("minilm"), config,
        refiners={"spatial": refiner, "temporal": refiner},
    ).save_pretrained(folder)  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    return {name: make(folder) for name, make in MEDIA.items()}


def _digest(paths) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


def run(capsys, args: list[str], out_dir: Path, inputs=()) -> tuple[int, list[str]]:
    """Exit code and the error lines of `sorakit ARGS`, after checking what every case must:
    no traceback, inputs unchanged, and, on failure, nothing new in `out_dir`."""
    before_inputs, before_out = _digest(inputs), _files(out_dir)
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text, text
    assert _digest(inputs) == before_inputs, "an input was changed"
    left = _files(out_dir) - before_out
    if code != 0:
        assert not left, f"left behind: {sorted(left)}"
    assert not [p for p in _files(out_dir) if ".tmp-" in p.name], "a temporary file is left"
    errors = [line for line in captured.err.splitlines() if "error" in line]
    return code, errors


def expect_error(capsys, args, out_dir, names: str, code: int = 2, inputs=()) -> str:
    got, errors = run(capsys, args, out_dir, inputs)
    assert got == code, (got, errors)
    assert len(errors) == 1, errors
    assert names.lower() in errors[0].lower(), (names, errors[0])
    return errors[0]


# --- numbers: nan, inf, negative, huge ---
NUMERIC = [
    (["--guidance", "nan"], "--guidance"),
    (["--guidance", "inf"], "--guidance"),
    (["--guidance", "-1"], "guidance"),
    (["--fps", "nan"], "--fps"),
    (["--fps", "0"], "fps"),
    (["--fps", "1e9"], "fps"),
    (["--steps", "0"], "steps"),
    (["--steps", "-3"], "steps"),
    (["--steps", "100000"], "steps"),
    (["--width", "0"], "width"),
    (["--width", "21"], "width"),
    (["--width", "100000"], "width"),
    (["--height", "-16"], "height"),
    (["--frames", "6"], "frames"),
    (["--frames", "-1"], "frames"),
    (["--frames", "100001"], "frames"),
    (["--seed", "-1"], "--seed"),
    (["--seed", "99999999999999999999"], "--seed"),
    (["--seed", "1.5"], "--seed"),
    (["--shape-contrast", "nan"], "--shape-contrast"),
    (["--shape-contrast", "inf"], "--shape-contrast"),
    (["--shape-contrast", "-1"], "--shape-contrast"),
    (["--guidance-interval", "0.5"], "--guidance-interval"),
    (["--guidance-interval", "nan,1"], "interval"),
    (["--sampler", "ddim"], "sampler"),
]


@pytest.mark.parametrize("extra,names", NUMERIC, ids=[" ".join(a) for a, _ in NUMERIC])
def test_numeric_options(capsys, tiny_model, tmp_path, extra, names):
    out = tmp_path / "out" / "x.mp4"
    expect_error(capsys, ["generate", "a red ball", "--out", out, "--model", tiny_model,
                          *FAST, *extra], tmp_path, names)  # fmt: skip


OTHER_COMMANDS = [
    (["train", "--data", "d", "--out", "o", "--lr", "nan"], "--lr"),
    (["train-vae", "--manifest", "m", "--out", "o", "--edge-weight", "inf"], "--edge-weight"),
    (["plan", "a red ball", "--fps", "inf"], "--fps"),
    (["eval", "world", "--model", "groundtruth", "--guidance", "nan"], "--guidance"),
    (["build-model", "--vae", "v", "--transformer", "t", "--out", "o", "--fps", "nan"], "--fps"),
]


@pytest.mark.parametrize("args,names", OTHER_COMMANDS, ids=[a[0] for a, _ in OTHER_COMMANDS])
def test_float_options_of_other_commands(capsys, tmp_path, args, names):
    expect_error(capsys, args, tmp_path, names)


def test_strength_nan_and_out_of_range(capsys, tiny_model, media, tmp_path):
    for value, names in (("nan", "--strength"), ("1.5", "strength")):
        expect_error(capsys, ["generate", "a ball", "--out", tmp_path / "x.mp4", "--model",
                              tiny_model, "--video", media["plain_mp4"], "--strength", value],
                     tmp_path, names, inputs=[media["plain_mp4"]])  # fmt: skip


# --- prompts ---
@pytest.mark.parametrize(
    "prompt,names", [("", "prompt is empty"), ("   ", "prompt is empty"),
                     ("🎈🎉🚀", "no words")],  # fmt: skip
)
def test_prompts_without_words(capsys, tiny_model, tmp_path, prompt, names):
    expect_error(capsys, ["generate", prompt, "--out", tmp_path / "x.mp4", "--model",
                          tiny_model, *FAST], tmp_path, names)  # fmt: skip


def test_a_long_prompt_says_where_it_is_cut(capsys, tiny_model, tmp_path):
    # One token a word: 4 + 26 words fill the 30 places between [CLS] and [SEP].
    words = " ".join(["slowly", "again"] * 20)
    before = _files(tmp_path)
    code = main(["generate", f"a red ball falls {words}", "--out", str(tmp_path / "x.mp4"),
                 "--model", str(tiny_model), *FAST])  # fmt: skip
    assert code == 0 and (tmp_path / "x.mp4") in _files(tmp_path) - before
    assert "cut after 'again'" in capsys.readouterr().err


# --- outputs: checked before any work ---
def test_output_paths(capsys, tiny_model, tmp_path):
    base = ["generate", "a red ball", "--model", tiny_model, *FAST]
    expect_error(capsys, [*base, "--out", tmp_path / "x.avi"], tmp_path, "--out")
    (tmp_path / "a-file").write_text("x")
    expect_error(capsys, [*base, "--out", tmp_path / "a-file" / "x.mp4"], tmp_path, "--out")
    (tmp_path / "folder.mp4").mkdir()
    expect_error(capsys, [*base, "--out", tmp_path / "folder.mp4"], tmp_path, "--out")
    expect_error(capsys, [*base, "--out", "/proc/sorakit-test/x.mp4"], tmp_path, "--out")


def test_a_png_sequence_prints_the_files_written(capsys, tiny_model, tmp_path):
    main(["generate", "a red ball", "--out", str(tmp_path / "f.png"), "--model",
          str(tiny_model), *FAST])  # fmt: skip
    printed = capsys.readouterr().out.strip()
    assert printed.startswith(str(tmp_path / "f_0000.png")) and "9 files" in printed
    assert (tmp_path / "f_0008.png").exists() and not (tmp_path / "f.png").exists()


# --- contradictions in a request ---
def test_contradictory_options(capsys, tiny_model, media, tmp_path):
    base = ["generate", "a red ball", "--out", tmp_path / "x.mp4", "--model", tiny_model, *FAST]
    plan = tmp_path / "plan.json"
    assert main(["plan", "a red ball", "--out", str(plan), "--width", "16", "--height", "16",
                 "--frames", "9"]) == 0  # fmt: skip
    capsys.readouterr()
    inputs = [media["plain_png"], media["plain_mp4"], plan]
    for extra, names in (
        (["--image", media["plain_png"], "--plan", plan], "cannot use"),
        (["--video", media["plain_mp4"], "--extend", "forward", "--plan", plan], "cannot use"),
        (["--loop", "--plan", plan], "cannot use"),
        (["--plan", plan, "--no-planning"], "planning off"),
        (["--video", media["plain_mp4"]], "extend or strength"),
        (["--extend", "forward"], "input video"),
        (["--video", media["plain_mp4"], "--extend", "sideways"], "forward or backward"),
    ):
        expect_error(capsys, [*base, *extra], tmp_path, names, inputs=inputs)


# --- media: broken ones refused with one line, good ones kept working ---
BROKEN = [("zero_byte", "empty"), ("text_as_mp4", "notes.mp4"), ("text_as_png", "notes.png"),
          ("truncated_h264", "truncated.mp4"), ("huge_png", "megapixels")]  # fmt: skip


@pytest.mark.parametrize("name,names", BROKEN, ids=[n for n, _ in BROKEN])
def test_broken_media_as_image_and_video(capsys, tiny_model, media, tmp_path, name, names):
    src = media[name]
    for option in (["--image", src], ["--video", src, "--extend", "forward"]):
        args = ["generate", "a red ball", "--out", tmp_path / "x.mp4", "--model", tiny_model]
        expect_error(capsys, [*args, *FAST, *option], tmp_path, names, inputs=[src])


@pytest.mark.parametrize("command", ["reconstruct", "upscale", "interpolate"])
def test_huge_and_broken_media_in_the_commands_that_work_at_full_size(
    capsys, tiny_model, media, tmp_path, command
):
    model = [] if command == "reconstruct" else ["--model", tiny_model]
    for name, names in (("huge_png", "megapixels"), ("truncated_h264", "truncated.mp4"),
                        ("zero_byte", "empty")):  # fmt: skip
        src = media[name]
        expect_error(capsys, [command, src, "--out", tmp_path / "x.mp4", *model], tmp_path,
                     names, inputs=[src])  # fmt: skip
    if command != "reconstruct":  # past the refiners' 256x256 a frame
        src = media["large_frames"]
        expect_error(capsys, [command, src, "--out", tmp_path / "x.mp4", *model], tmp_path,
                     "megapixels", inputs=[src])  # fmt: skip


GOOD = ["one_frame_mp4", "ntsc_rate", "cinema_wide", "rgba_png", "sixteen_bit_png", "grey_png"]


@pytest.mark.parametrize("name", GOOD)
def test_unusual_but_valid_media_still_work(capsys, tiny_model, media, tmp_path, name):
    src = media[name]
    out = tmp_path / "x.mp4"
    code, errors = run(capsys, ["generate", "a red ball", "--out", out, "--model", tiny_model,
                                *FAST, "--image", src], tmp_path, [src])  # fmt: skip
    assert code == 0 and not errors and out.exists(), errors


def test_an_input_keeps_its_aspect_ratio_and_the_changes_are_said(capsys, tiny_model, media,
                                                                  tmp_path):  # fmt: skip
    import av

    out = tmp_path / "wide.mp4"
    assert main(["generate", "a red ball", "--out", str(out), "--model", str(tiny_model), *FAST,
                 "--video", str(media["cinema_wide"]), "--strength", "0.5"]) == 0  # fmt: skip
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.width > stream.height  # 150x64 in: wide out, not a centre square
    out = tmp_path / "ntsc.mp4"
    assert main(["generate", "a red ball", "--out", str(out), "--model", str(tiny_model), *FAST,
                 "--video", str(media["ntsc_rate"]), "--strength", "0.5"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "29.97 fps" in err and "30 frames become" in err


# --- model folders: each file missing, truncated, wrong-typed or with unknown keys ---
MODEL_NAMES = {
    "no_pipeline_json": "pipeline.json", "pipeline_json_list": "JSON object",
    "pipeline_json_truncated": "pipeline.json", "pipeline_unknown_key": "stpes",
    "pipeline_wrong_type": "pipeline.json", "transformer_unknown_key": "depht",
    "transformer_config_list": "config.json", "transformer_weights_truncated": "model.safetensors",
    "transformer_weights_missing": "model.safetensors", "vae_folder_missing": "vae",
    "weights_swapped": "sha256", "pickle_text_encoder": "no safetensors",
}  # fmt: skip


@pytest.mark.parametrize("breaker", sorted(MODEL_BREAKERS))
def test_broken_model_folders(capsys, tiny_model, tmp_path, breaker, monkeypatch):
    import pickle

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    MODEL_BREAKERS[breaker](model)
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("something unpickled"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    line = expect_error(capsys, ["generate", "a red ball", "--out", tmp_path / "out" / "x.mp4",
                                 "--model", model, *FAST], tmp_path / "out",
                        MODEL_NAMES[breaker], inputs=list(model.rglob("*")))  # fmt: skip
    assert "cannot load the model" in line


# --- bugs are exit 1, in one line ---
def test_an_internal_error_is_one_line_with_exit_code_1(capsys, tiny_model, tmp_path,
                                                         monkeypatch):  # fmt: skip
    def broken(*args, **kwargs):
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(TextToVideoPipeline, "generate", broken)
    args = ["generate", "a red ball", "--out", tmp_path / "x.mp4", "--model", tiny_model]
    line = expect_error(capsys, args, tmp_path, "internal error", code=1)
    assert "RuntimeError: a bug over two lines" in line


# --- the decoder child ---
def test_a_decoder_crash_is_one_line(monkeypatch, media):
    import subprocess

    from sorakit.data.safe_read import SCALED_INPUT, read_untrusted
    from sorakit.data.video import VideoReadError

    def crashed(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, -11, "", "")  # as a segfaulting FFmpeg ends

    monkeypatch.setattr(subprocess, "run", crashed)
    with pytest.raises(VideoReadError, match="decoder crashed on this file .SIGSEGV."):
        read_untrusted(media["plain_mp4"], SCALED_INPUT)


def test_the_decoder_child_reads_what_the_parent_would(media):
    from sorakit.data.safe_read import SCALED_INPUT, read_untrusted
    from sorakit.data.video import read_video

    for name in ("plain_mp4", "ntsc_rate", "rgba_png"):
        child, here = read_untrusted(media[name], SCALED_INPUT), read_video(media[name])
        assert (child.frames == here.frames).all() and child.fps == here.fps


# --- writes that cannot collide ---
def test_two_overlapping_writers_leave_one_whole_file(tmp_path):
    target = tmp_path / "out.bin"
    payloads = [bytes([i]) * (1 << 20) for i in (1, 2)]
    both_open = threading.Barrier(2)
    errors = []

    def writer(data: bytes) -> None:
        def write(path: Path) -> None:
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
                both_open.wait(timeout=10)  # both are half-way through their own temp file
                f.write(data[len(data) // 2 :])

        try:
            atomic_write(target, write)
        except Exception as exc:  # noqa: BLE001 - any failure of either writer fails the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert target.read_bytes() in payloads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_a_failed_write_leaves_nothing(tmp_path):
    def fail(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(tmp_path / "x.bin", fail)
    assert list(tmp_path.iterdir()) == []


# --- data check ---
def test_data_check_flags_an_annotation_outside_the_manifest_folder(capsys, media, tmp_path):
    import json

    shutil.copy(media["plain_mp4"], tmp_path / "clip.mp4")
    rows = [{"path": "clip.mp4", "caption": "x", "annotation": "../../etc/passwd"},
            {"path": "clip.mp4", "caption": "x", "annotation": "clip.json"}]  # fmt: skip
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    main(["data", "check", str(tmp_path / "m.jsonl")])
    out = capsys.readouterr()
    text = out.out + out.err
    assert "row 1" in text and "outside the manifest's folder" in text
    assert "row 2" not in text
