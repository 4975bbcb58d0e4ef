"""`sorakit verify`: what provenance a file carries, and the options that set what outputs carry.

Exit codes: 0 when the file was checked (with or without provenance), 1 when it carries a C2PA
manifest that fails validation (changed after signing, or a bad signature), 2 when it cannot be
read.
"""

from __future__ import annotations

import glob
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import typer

from sorakit.cli.inputs import read_media

NO_PROVENANCE = typer.Option(
    False,
    "--no-provenance",
    help="Write neither the invisible watermark nor the signed C2PA manifest (research use: "
    "the output cannot then be told from any other video).",
)
PROVENANCE_PROMPT = typer.Option(
    False, "--provenance-prompt", help="Put the prompt itself in the C2PA manifest (default: "
    "only its SHA-256).",
)  # fmt: skip
SIGNING_CERT = typer.Option(
    None, "--signing-cert", help="PEM: your signing certificate and its issuers (default: a "
    "local chain made at first use in ~/.config/sorakit).",
)  # fmt: skip
SIGNING_KEY = typer.Option(None, "--signing-key", help="PEM: the --signing-cert's private key.")


def provenance_options(off: bool, prompt: bool, cert: Path | None, key: Path | None,
                       inputs: tuple[Path, ...] = ()):  # fmt: skip
    """The ProvenanceOptions the flags ask for, or a BadParameter saying what is wrong."""
    from sorakit.provenance.options import ProvenanceOptions

    for path in (cert, key):
        if path is not None and not path.is_file():
            raise typer.BadParameter(f"{path}: no such file")
    try:
        return ProvenanceOptions(enabled=not off, include_prompt=prompt, signing_cert=cert,
                                 signing_key=key, ingredients=tuple(inputs))  # fmt: skip
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _manifest(path: Path, anchor: Path | None) -> dict[str, Any]:
    from sorakit.provenance.certs import local_trust_anchor
    from sorakit.provenance.manifest import read_manifest

    if path.suffix.lower() not in (".mp4", ".mov", ".m4v"):
        return {"present": False}
    trust = anchor.read_bytes() if anchor is not None else local_trust_anchor()
    report = asdict(read_manifest(path, trust))
    report["trust_anchor"] = str(anchor) if anchor is not None else "local" if trust else None
    return report


def _sequence(path: Path) -> list[Path]:
    """A frame of a PNG sequence (NAME_0000.png ...) stands for all of it: the watermark is
    embedded in the frames' mean, and one frame alone also carries its own motion."""
    match = re.fullmatch(r"(.*)_\d{4}\.png", path.name)
    if match is None:
        return [path]
    return sorted(path.parent.glob(f"{glob.escape(match.group(1))}_[0-9][0-9][0-9][0-9].png"))


def _watermark(path: Path) -> dict[str, Any]:
    from sorakit.data.safe_read import SCALED_INPUT
    from sorakit.provenance.watermark import WatermarkConfig, detect

    parts = [read_media(part, "file", SCALED_INPUT)[0] for part in _sequence(path)]
    frames = np.concatenate(parts) if len({p.shape[1:] for p in parts}) == 1 else parts[0]
    config = WatermarkConfig()
    found = detect(frames, config)
    return {
        "detected": found.detected, "p_value": found.p_value, "threshold": config.threshold,
        "payload": None if found.payload is None else f"{found.payload:08x}",
        "build_id": found.build_id, "video_id": found.video_id, "zoom": found.zoom,
    }  # fmt: skip


def _c2pa_line(c2pa: dict[str, Any]) -> str:
    if not c2pa["present"]:
        return "no C2PA manifest"
    if not c2pa["valid"]:
        why = "modified after signing" if c2pa["modified"] else "; ".join(c2pa["errors"])
        return f"C2PA manifest INVALID ({why or c2pa['state']})"
    trust = "trusted" if c2pa["trusted"] else "signer not trusted by the anchor"
    return f"C2PA signature valid, {trust} (signer: {c2pa['signer']})"


def _mark_line(mark: dict[str, Any]) -> str:
    if not mark["detected"]:
        return f"no watermark (p = {mark['p_value']:.2g})"
    what = f"payload {mark['payload']}" if mark["payload"] else "payload did not decode"
    return f"sorakit watermark, {what} (p = {mark['p_value']:.2g})"


def verdict(c2pa: dict[str, Any], mark: dict[str, Any]) -> tuple[str, str]:
    """(status, one line): verified, tampered, unsigned-watermarked or none."""
    if c2pa["present"] and not c2pa["valid"]:
        status = "tampered"
    elif c2pa["present"]:
        status = "verified"
    elif mark["detected"]:
        return "watermarked", (f"{_mark_line(mark)}; no C2PA manifest (never signed, or "
                               "stripped by a re-encode)")  # fmt: skip
    else:
        return "none", f"no provenance: no C2PA manifest and {_mark_line(mark)}"
    return status, f"{_c2pa_line(c2pa)}; {_mark_line(mark)}"


def verify(
    file: Path = typer.Argument(..., help="A video or image to check."),
    trust_anchor: Path = typer.Option(
        None, "--trust-anchor", help="PEM root certificate to trust (default: the local one)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of text."),
) -> None:
    """Check a file's provenance: its signed C2PA manifest (does the signature validate
    against the trust anchor, was the file changed after signing) and sorakit's invisible
    watermark (its payload and p-value). A file with neither says so and exits 0."""
    if not file.is_file():
        raise typer.BadParameter(f"{file}: no such file")
    if trust_anchor is not None and not trust_anchor.is_file():
        raise typer.BadParameter(f"{trust_anchor}: no such file")
    c2pa, mark = _manifest(file, trust_anchor), _watermark(file)
    status, line = verdict(c2pa, mark)
    if as_json:
        print(json.dumps({"file": str(file), "status": status, "verdict": line, "c2pa": c2pa,
                          "watermark": mark}, indent=1))  # fmt: skip
    else:
        print(f"file: {file}")
        print(f"c2pa: {_c2pa_line(c2pa)}")
        if c2pa.get("generation"):
            gen = c2pa["generation"]
            print(f"  model {gen.get('model')}, seed {gen.get('seed')}, sorakit "
                  f"{gen.get('sorakit_version')}, prompt sha256 "
                  f"{gen.get('prompt_sha256')}")  # fmt: skip
        print(f"watermark: {_mark_line(mark)}")
        print(f"verdict: {line}")
    if status == "tampered":
        raise typer.Exit(1)
