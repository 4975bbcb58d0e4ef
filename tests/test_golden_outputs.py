"""Every prompting mode of the shipped default model gives the same frames, byte for byte, as
when `tests/golden_outputs.json` was recorded: a refactor must not change what is generated.

Float kernels differ between CPU kinds and torch versions, so the digests are kept per
platform (`platform_key`); on a platform with none recorded the test skips and says how to
record them: `python tests/test_golden_outputs.py --record`.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

GOLDEN = Path(__file__).with_name("golden_outputs.json")
FAST = dict(steps=3, guidance=4.0, seed=1, sampler="euler")  # the full sampler, shortened
DISTILLED = dict(seed=1)  # the default: the distilled sampler at its own step count
PROMPTS = ("a red ball falls and bounces", "two small blue squares", "a green circle moves right")


def platform_key() -> str:
    """torch's version and the CPU features its kernels pick between."""
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    kinds = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"torch-{torch.__version__}/{platform.machine()}/{'+'.join(kinds) or 'base'}"


def digest(frames: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()[:16]


def run_cases(pipe) -> dict[str, str]:
    """name -> digest of the frames, for every mode on a handful of prompts."""
    from sorakit.pipeline import GenerationRequest

    out: dict[str, str] = {}

    def gen(name: str, prompt: str, settings: dict = FAST, **kw) -> np.ndarray:
        frames = pipe.generate(GenerationRequest(prompt=prompt, **settings, **kw)).frames
        out[name] = digest(frames)
        return frames

    for i, prompt in enumerate(PROMPTS):
        gen(f"text-to-video/planned/{i}", prompt)
        gen(f"text-to-video/text-only/{i}", prompt, planning=False)
    base = gen("text-to-image", PROMPTS[0], frames=1)
    clip = gen("text-to-video/base", PROMPTS[0], planning=False)
    plan = pipe.plan(PROMPTS[1])
    gen("text-to-video/given-plan", PROMPTS[1], plan=plan)
    gen("image-to-video", PROMPTS[0], image=base[0])
    gen("extend-forward", PROMPTS[0], video=clip, video_fps=8.0, extend="forward", frames=9)
    gen("extend-forward/text-only", PROMPTS[0], video=clip, video_fps=8.0, extend="forward",
        frames=9, planning=False)  # fmt: skip
    gen("extend-backward", PROMPTS[0], video=clip, video_fps=8.0, extend="backward", frames=5)
    gen("video-to-video", PROMPTS[0], video=clip, video_fps=8.0, strength=0.6)
    gen("connect", PROMPTS[0], connect=((clip[:9], 8.0), (clip, 8.0)), frames=9)
    gen("loop", PROMPTS[2], loop=True, frames=9)
    gen("loop/image", PROMPTS[2], loop=True, image=base[0], frames=9)
    gen("cascade/planned", PROMPTS[0], width=128, height=128, fps=16.0)
    gen("cascade/text-only", PROMPTS[0], width=128, height=128, fps=16.0, planning=False)
    for i, prompt in enumerate(PROMPTS[:2]):
        gen(f"distilled/planned/{i}", prompt, DISTILLED)
        gen(f"distilled/text-only/{i}", prompt, DISTILLED, planning=False)
    gen("distilled/image-to-video", PROMPTS[0], DISTILLED, image=base[0])
    gen("distilled/extend-forward", PROMPTS[0], DISTILLED, video=clip, video_fps=8.0,
        extend="forward", frames=9)  # fmt: skip
    gen("distilled/video-to-video", PROMPTS[0], DISTILLED, video=clip, video_fps=8.0, strength=0.6)
    out["upscale"] = digest(pipe.refine_video("spatial", clip[:5], 8.0, PROMPTS[0], seed=1).frames)
    out["interpolate"] = digest(pipe.refine_video("temporal", clip, 8.0, PROMPTS[0]).frames)
    return out


def _load() -> dict:
    return json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}


@pytest.mark.slow
def test_every_mode_matches_the_recorded_frames():
    recorded = _load().get(platform_key())
    if recorded is None:
        pytest.skip(
            f"no golden outputs for {platform_key()}: record them on a known-good commit "
            "with `python tests/test_golden_outputs.py --record`"
        )
    from sorakit.pipeline import TextToVideoPipeline

    got = run_cases(TextToVideoPipeline.from_pretrained())
    changed = sorted(k for k in recorded if got.get(k) != recorded[k])
    assert not changed, f"frames changed: {changed}"
    assert set(got) == set(recorded)


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_golden_outputs.py --record")
    from sorakit.pipeline import TextToVideoPipeline

    data = _load()
    data[platform_key()] = run_cases(TextToVideoPipeline.from_pretrained())
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(data[platform_key()])} cases for {platform_key()}")
