"""Signed C2PA manifests on MP4 files, and reading them back with a validation verdict.

Fully offline: no timestamp authority, no remote manifest, no network fetch of trust lists.
Trust comes from one PEM anchor (the local root CA, or one the caller names).
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa

import sorakit
from sorakit.provenance.certs import SigningIdentity

ALGORITHMIC = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
ASSERTION = "org.sorakit.generation"  # sorakit's own assertion: model, seed, settings, hashes


@dataclass(frozen=True)
class Ingredient:
    """An input the output was made from (edits, extensions, upscaling)."""

    path: Path


@dataclass
class ManifestReport:
    """What a file's C2PA manifest says, and whether it validates."""

    present: bool
    valid: bool = False  # the signature and every hard binding hold
    trusted: bool = False  # ... and the signer chains to the trust anchor
    modified: bool = False  # the data hash does not match: changed after signing
    state: str = ""  # c2pa's validation_state: Invalid, Valid or Trusted
    signer: str = ""
    generation: dict[str, Any] = field(default_factory=dict)  # the sorakit assertion
    errors: list[str] = field(default_factory=list)


def _settings(trust_anchor: bytes | None) -> c2pa.Settings:
    config: dict[str, Any] = {
        "builder": {"thumbnail": {"enabled": False}},  # an MP4 thumbnail needs a decoder
        "verify": {"verify_trust": trust_anchor is not None, "remote_manifest_fetch": False,
                   "ocsp_fetch": False},
    }  # fmt: skip
    if trust_anchor is not None:
        config["trust"] = {"trust_anchors": trust_anchor.decode()}
    return c2pa.Settings.from_dict(config)


def _definition(title: str, generation: dict[str, Any], inputs: int) -> dict[str, Any]:
    agent = {"name": "sorakit", "version": sorakit.__version__}
    made = {"digitalSourceType": ALGORITHMIC, "softwareAgent": agent}
    if inputs:  # C2PA: an edit's first action opens its parent ingredient
        ids = [f"input{i}" for i in range(inputs)]
        actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ids[:1]}},
                   {"action": "c2pa.edited", **made}]  # fmt: skip
    else:
        actions = [{"action": "c2pa.created", **made}]
    return {
        "claim_generator_info": [agent],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {"label": ASSERTION, "data": generation},
        ],
    }


def sign_mp4(
    source: Path,
    dest: Path,
    generation: dict[str, Any],
    identity: SigningIdentity,
    ingredients: tuple[Ingredient, ...] = (),
    title: str | None = None,
) -> None:
    """Write `source` with an embedded, signed manifest to `dest` (a different path)."""
    info = c2pa.C2paSignerInfo(b"es256", identity.chain, identity.key, None)
    definition = _definition(title or dest.name, generation, len(ingredients))
    with (
        c2pa.Context(_settings(None)) as context,
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(definition, context) as builder,
    ):
        for i, ingredient in enumerate(ingredients):
            mime = mimetypes.guess_type(ingredient.path.name)[0] or "video/mp4"
            meta = {"title": ingredient.path.name, "label": f"input{i}",
                    "relationship": "parentOf" if i == 0 else "componentOf"}  # fmt: skip
            with open(ingredient.path, "rb") as stream:
                builder.add_ingredient(meta, mime, stream)
        builder.sign_file(source, dest, signer)


def _failures(results: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not results:
        return []
    active = results.get("activeManifest", results)
    return list(active.get("failure", []))


def read_manifest(path: Path, trust_anchor: bytes | None) -> ManifestReport:
    """The manifest of `path`, validated against `trust_anchor` (None: signature only)."""
    mime = mimetypes.guess_type(path.name)[0] or "video/mp4"
    try:
        with c2pa.Context(_settings(trust_anchor)) as context, open(path, "rb") as stream:
            reader = c2pa.Reader(mime, stream, context=context)
            store = json.loads(reader.json())
            state = reader.get_validation_state() or ""
            results = reader.get_validation_results()
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in str(exc):
            return ManifestReport(present=False)
        return ManifestReport(present=True, errors=[f"{type(exc).__name__}: {exc}"])
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    failures = _failures(results)
    codes = [str(f.get("code", "")) for f in failures]
    generation = next((a.get("data", {}) for a in active.get("assertions", [])
                       if a.get("label") == ASSERTION), {})  # fmt: skip
    return ManifestReport(
        present=True,
        valid=state in ("Valid", "Trusted"),
        trusted=state == "Trusted",
        modified=any("dataHash" in c or "bmffHash" in c or "hashedURI" in c for c in codes),
        state=state,
        signer=str(active.get("signature_info", {}).get("common_name", "")),
        generation=generation,
        errors=[f"{f.get('code')}: {f.get('explanation', '')}" for f in failures],
    )
