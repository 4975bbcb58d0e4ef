"""Provenance: the invisible watermark, the signed C2PA manifest and `sorakit verify`."""

from __future__ import annotations

import json

import av
import c2pa
import numpy as np
import pytest

from sorakit.cli.main import main
from sorakit.data.video import read_video, write_video
from sorakit.pipeline import GeneratedVideo, Provenance
from sorakit.provenance import ecc
from sorakit.provenance.certs import ROOT_CERT, local_trust_anchor, make_chain
from sorakit.provenance.manifest import read_manifest
from sorakit.provenance.options import OFF, ProvenanceOptions
from sorakit.provenance.watermark import WatermarkConfig, coded_bits, detect, embed
from sorakit.world.clip import render_clip

PAYLOAD = 0x5EC0_1D42
THRESHOLD = WatermarkConfig().threshold


@pytest.fixture(autouse=True)
def config_dir(tmp_path_factory, monkeypatch):
    """The local signing chain lives in a scratch config folder, never the user's."""
    monkeypatch.setenv("SORAKIT_CONFIG_DIR", str(tmp_path_factory.getbasetemp() / "config"))


def _world(size: int, seed: int = 3) -> np.ndarray:
    return render_clip(seed, size, size, num_frames=9).frames


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def _reencode(frames: np.ndarray, tmp_path, crf: int) -> np.ndarray:
    path = tmp_path / f"crf{crf}.mp4"
    write_video(path, frames, 8.0, crf=crf)
    return read_video(path).frames


def test_watermark_round_trip_at_64_is_invisible_and_significant():
    clean = _world(64)
    marked = embed(clean, PAYLOAD)
    found = detect(marked)
    assert found.payload == PAYLOAD and found.detected and found.p_value < 1e-10
    assert _psnr(marked, clean) >= 40.0
    assert not np.array_equal(marked, clean)


def test_watermark_survives_h264_at_crf_23_at_128(tmp_path):
    marked = embed(_world(128), PAYLOAD)
    found = detect(_reencode(marked, tmp_path, 23))
    assert found.detected and found.payload == PAYLOAD
    assert np.mean(found.coded_bits == coded_bits(PAYLOAD)) >= 0.95


def test_watermark_survives_a_crop_and_a_brightness_change_at_128():
    from PIL import Image

    marked = embed(_world(128), PAYLOAD)
    cropped = np.stack([np.asarray(Image.fromarray(f[6:-6, 6:-6]).resize((128, 128),
                        Image.BICUBIC)) for f in marked])  # fmt: skip
    found = detect(cropped)
    assert found.detected and found.payload == PAYLOAD and found.zoom > 1.0
    brighter = np.clip(marked * 1.1, 0, 255).astype(np.uint8)
    assert detect(brighter).payload == PAYLOAD


def test_unwatermarked_videos_are_not_significant(tmp_path):
    for seed in range(6):
        found = detect(_world(64, seed))
        assert not found.detected and found.p_value > THRESHOLD and found.payload is None
    assert not detect(_reencode(_world(128), tmp_path, 23)).detected


def test_the_p_value_is_calibrated_on_pure_noise():
    """Without a watermark P(p < a) <= a: on 300 noise clips, few small p-values."""
    rng = np.random.default_rng(0)
    values = [detect(rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)).p_value
              for _ in range(300)]  # fmt: skip
    assert np.mean(np.array(values) < 0.05) <= 0.05 + 0.04


def test_golay_corrects_three_flipped_bits_per_block():
    codebook = ecc._codebook().astype(int)
    assert codebook[1:].sum(axis=1).min() == 8  # minimum distance 8
    message = np.random.default_rng(1).integers(0, 2, 36)
    soft = 2.0 * ecc.encode(message) - 1.0
    soft[[0, 7, 19, 24, 30, 47, 50, 51, 52]] *= -1  # 3 errors in each of the 3 blocks
    assert np.array_equal(ecc.decode_soft(soft), message)
    soft[[1, 2, 3, 4]] *= -1  # 7 in the first: no longer the same message
    assert not np.array_equal(ecc.decode_soft(soft), message)


def _video(size: int = 64) -> GeneratedVideo:
    record = Provenance(prompt="a red ball falls", mode="text-to-video", model="in-memory",
                        seed=7, width=size, height=size, frames=9, fps=8.0)  # fmt: skip
    return GeneratedVideo(_world(size), 8.0, record, plan={"objects": []})


def test_saved_mp4_is_signed_and_watermarked_and_a_flipped_byte_fails(tmp_path):
    (path,) = _video().save(tmp_path / "v.mp4")
    report = read_manifest(path, local_trust_anchor())
    assert report.present and report.valid and report.trusted and not report.modified
    generation = report.generation
    assert generation["seed"] == 7 and "prompt" not in generation
    assert len(generation["prompt_sha256"]) == 64 and "plan_sha256" in generation
    assert "trainedAlgorithmicMedia" in json.dumps(_active(path)["assertions"])
    payload = int(generation["watermark"]["payload"], 16)
    assert detect(read_video(path).frames).payload == payload
    assert not list(tmp_path.glob("*unsigned*")) and not list(tmp_path.glob(".tmp-*"))
    data = bytearray(path.read_bytes())
    data[data.find(b"mdat") + 100] ^= 0x01  # one bit of the video data
    (tmp_path / "flipped.mp4").write_bytes(bytes(data))
    flipped = read_manifest(tmp_path / "flipped.mp4", local_trust_anchor())
    assert flipped.present and not flipped.valid and flipped.modified
    make_chain(tmp_path / "other")  # a different root: the signature holds, trust does not
    assert not read_manifest(path, (tmp_path / "other" / ROOT_CERT).read_bytes()).trusted


def _active(path) -> dict:
    with open(path, "rb") as stream:
        store = json.loads(c2pa.Reader("video/mp4", stream).json())
    return store["manifests"][store["active_manifest"]]


def test_a_reencode_strips_the_manifest_and_the_watermark_still_names_the_video(tmp_path, capsys):
    (path,) = _video(128).save(tmp_path / "v.mp4")
    payload = int(read_manifest(path, None).generation["watermark"]["payload"], 16)
    copy = tmp_path / "copy.mp4"
    write_video(copy, read_video(path).frames, 8.0, crf=28)
    assert not read_manifest(copy, local_trust_anchor()).present
    assert detect(read_video(copy).frames).payload == payload
    assert main(["verify", str(copy)]) == 0
    assert f"payload {payload:08x}" in capsys.readouterr().out


def test_prompt_only_when_asked_and_edits_name_their_input(tmp_path):
    source = tmp_path / "in.mp4"
    write_video(source, _world(64), 8.0)
    options = ProvenanceOptions(include_prompt=True, ingredients=(source,))
    (path,) = _video().save(tmp_path / "v.mp4", options)
    report = read_manifest(path, local_trust_anchor())
    assert report.valid and report.generation["prompt"] == "a red ball falls"
    assert [i["title"] for i in _active(path)["ingredients"]] == ["in.mp4"]


def test_gif_and_png_carry_the_watermark(tmp_path, capsys):
    video = _video(64)
    video.save(tmp_path / "v.gif")
    with av.open(str(tmp_path / "v.gif")) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    payload = json.loads((tmp_path / "v.json").read_text())["watermark"]["payload"]
    assert f"{detect(frames).payload:08x}" == payload
    video.save(tmp_path / "f.png")  # a sequence: verified as a whole from any of its frames
    assert main(["verify", str(tmp_path / "f_0003.png"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["watermark"]["payload"] == payload
    image = GeneratedVideo(_world(64)[:1], 8.0, video.provenance)
    image.save(tmp_path / "still.png")
    assert detect(read_video(tmp_path / "still.png").frames).detected


def test_no_provenance_writes_neither(tmp_path):
    video = _video(64)
    (path,) = video.save(tmp_path / "v.mp4", OFF)
    assert not read_manifest(path, local_trust_anchor()).present
    assert not detect(read_video(path).frames).detected
    assert "watermark" not in json.loads((tmp_path / "v.json").read_text())


def test_verify_on_a_plain_file_says_no_provenance_and_exits_0(tmp_path, capsys):
    plain = tmp_path / "plain.mp4"
    write_video(plain, _world(64), 8.0)
    assert main(["verify", str(plain)]) == 0
    out = capsys.readouterr().out
    assert "verdict: no provenance" in out
    assert main(["verify", str(plain), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "none" and not report["c2pa"]["present"]
    assert not report["watermark"]["detected"]


def test_verify_a_signed_file_and_a_tampered_one(tmp_path, capsys):
    (path,) = _video().save(tmp_path / "v.mp4")
    assert main(["verify", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "verified" and report["c2pa"]["trusted"]
    assert report["watermark"]["payload"] == report["c2pa"]["generation"]["watermark"]["payload"]
    data = bytearray(path.read_bytes())
    data[data.find(b"mdat") + 100] ^= 0x01
    (tmp_path / "t.mp4").write_bytes(bytes(data))
    assert main(["verify", str(tmp_path / "t.mp4")]) == 1
    assert "modified after signing" in capsys.readouterr().out


def test_generate_and_refiners_take_the_provenance_options():
    import typer

    from sorakit.cli.main import app

    commands = typer.main.get_command(app).commands
    for command in ("generate", "upscale", "interpolate"):
        flags = {flag for param in commands[command].params for flag in param.opts}
        assert {"--no-provenance", "--provenance-prompt", "--signing-cert",
                "--signing-key"} <= flags  # fmt: skip


def test_an_organisations_own_certificate_signs_and_its_root_verifies(tmp_path, capsys):
    from sorakit.provenance.certs import SIGN_CERT, SIGN_KEY

    org = tmp_path / "org"
    make_chain(org)
    options = ProvenanceOptions(signing_cert=org / SIGN_CERT, signing_key=org / SIGN_KEY)
    (path,) = _video().save(tmp_path / "v.mp4", options)
    assert main(["verify", str(path), "--json", "--trust-anchor", str(org / ROOT_CERT)]) == 0
    assert json.loads(capsys.readouterr().out)["c2pa"]["trusted"]
    assert main(["verify", str(path), "--json"]) == 0  # the local root does not vouch for it
    report = json.loads(capsys.readouterr().out)
    assert report["c2pa"]["valid"] and not report["c2pa"]["trusted"]
    with pytest.raises(ValueError, match="both"):
        ProvenanceOptions(signing_cert=org / SIGN_CERT)
