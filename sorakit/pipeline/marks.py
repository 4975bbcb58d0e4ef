"""The provenance marks of a saved output: the watermark's payload, and the C2PA assertion."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sorakit.pipeline.provenance import Provenance
from sorakit.provenance.options import ProvenanceOptions
from sorakit.provenance.watermark import WatermarkConfig, payload_for

WATERMARK = WatermarkConfig()
_PRIVATE = ("prompt", "negative_prompt")  # hashed in the manifest unless asked for


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def watermark_payload(record: dict[str, Any]) -> int:
    """16 bits for the build (sorakit and the model's weights), 16 for this video's request."""
    build = json.dumps([record.get("sorakit_version"), record.get("weights_sha256")],
                       sort_keys=True)  # fmt: skip
    return payload_for(build, json.dumps(record, sort_keys=True))


def watermark_record(payload: int) -> dict[str, Any]:
    return {"payload": f"{payload:08x}", "build_id": payload >> 16, "video_id": payload & 0xFFFF,
            "key": WATERMARK.key}  # fmt: skip


def assertion(
    provenance: Provenance, plan: dict[str, Any] | None, payload: int, options: ProvenanceOptions
) -> dict[str, Any]:
    """sorakit's C2PA assertion: the model and its weights, seed and settings, the prompt's hash
    (the prompt only if asked), the plan's hash and the watermark's payload."""
    record = provenance.to_dict()
    settings = {k: v for k, v in record.items() if k not in _PRIVATE}
    data: dict[str, Any] = {
        "sorakit_version": record["sorakit_version"],
        "model": record["model"],
        "weights_sha256": record["weights_sha256"],
        "seed": record["seed"],
        "settings": settings,
        "prompt_sha256": _sha256(provenance.prompt),
        "watermark": watermark_record(payload),
    }
    if provenance.negative_prompt:
        data["negative_prompt_sha256"] = _sha256(provenance.negative_prompt)
    if options.include_prompt:
        data["prompt"], data["negative_prompt"] = provenance.prompt, provenance.negative_prompt
    if plan is not None:
        data["plan_sha256"] = _sha256(json.dumps(plan, sort_keys=True))
    return data


def signed(write, generation: dict[str, Any], options: ProvenanceOptions):
    """A writer for atomic_write that writes the MP4 with `write` to a scratch sibling, then the
    signed copy to the path it is given: no unsigned file ever has the final name."""

    def run(path: Path) -> None:
        # c2pa loads a native library: only a signed save pays for it, not every import.
        from sorakit.provenance.manifest import Ingredient, sign_mp4

        scratch = path.with_name(f"{path.stem}.unsigned{path.suffix}")
        try:
            write(scratch)
            ingredients = tuple(Ingredient(Path(p)) for p in options.ingredients)
            sign_mp4(scratch, path, generation, options.identity(), ingredients)
        finally:
            scratch.unlink(missing_ok=True)

    return run
