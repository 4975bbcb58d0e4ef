"""Long videos: window by window, one simulated plan, one causal decode."""

import numpy as np
import pytest
import torch
from tiny_models import layout_pipeline

from sorakit.eval.long import score_windows
from sorakit.models.vae import VAE_PRESETS, CausalVAE
from sorakit.pipeline import GenerationError, GenerationRequest
from sorakit.pipeline.long import CONTEXT, first_frame, plan_window, windows
from sorakit.world.clip import render_scene
from sorakit.world.sampling import GroupSpec, SceneSpec, sample_scene


@pytest.mark.parametrize("total, window", [(5, 5), (6, 5), (121, 5), (19, 3), (40, 7)])
def test_windows_cover_every_latent_frame_with_context(total, window):
    starts = windows(total, window)
    assert starts[0] == 0 and starts[-1] + min(window, total) == total
    for before, after in zip(starts, starts[1:], strict=False):
        assert before < after and before + window - after >= CONTEXT  # each is given context


def test_streamed_decode_equals_one_decode():
    torch.manual_seed(0)
    vae = CausalVAE(VAE_PRESETS["tiny"]).eval()
    z = torch.randn(1, vae.latent_channels, 7, 4, 4)
    with torch.no_grad():
        whole = vae.decode(z)
        decode = vae.stream_decoder()
        parts = torch.cat([decode(z[:, :, s]) for s in (slice(0, 3), slice(3, 5), slice(5, 7))], 2)
    assert torch.allclose(whole, parts, atol=1e-5)


def test_a_window_of_the_plan_starts_at_its_own_time():
    plan = {"scene": {"num_frames": 9}, "frames": [{"index": i, "time": i / 8} for i in range(9)]}
    part = plan_window(plan, first_frame(1, 4), 5)
    assert [f["index"] for f in part["frames"]] == list(range(5))
    assert part["frames"][0]["time"] == 0 and part["scene"]["num_frames"] == 5


@pytest.fixture(scope="module")
def pipe():
    return layout_pipeline(max_frames=17)


def test_a_long_planned_video_is_made_window_by_window(pipe):
    calls = []
    video = pipe("a red ball falls and bounces", frames=49, seed=3, on_step=lambda: calls.append(1))
    assert video.frames.shape == (49, 16, 16, 3)
    assert video.provenance.planned and video.plan["scene"]["num_frames"] == 49
    assert video.provenance.windows == len(windows(13, 3))
    request = GenerationRequest(prompt="a red ball falls and bounces", frames=49)
    assert len(calls) == pipe.step_count(request) == 2 * video.provenance.windows
    again = pipe("a red ball falls and bounces", frames=49, seed=3)
    assert np.array_equal(video.frames, again.frames)  # a seed fixes every window's noise


def test_long_videos_only_in_text_mode_and_within_the_limit(pipe):
    with pytest.raises(GenerationError, match="up to 961"):
        pipe("a red ball falls", frames=965)
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(GenerationError, match="up to 17"):
        pipe("a red ball falls", frames=49, image=image)


def _truth(spec_groups, seconds=20.0, fps=8.0):
    """A long world clip rendered from its own simulation, with its annotation as the plan."""
    frames = 1 + int(seconds * fps)
    scene, trajectory = sample_scene(4, aspect=1.0, duration=seconds, spec=SceneSpec(spec_groups))
    clip = render_scene(scene, trajectory, 64, 64, fps, frames)
    return clip.frames, clip.annotation, fps


def test_long_scores_pass_on_truth_and_fall_on_their_corruption():
    frames, plan, fps = _truth((GroupSpec("fall", colour="red", shape="circle", size="large"),))
    truth = score_windows(frames, plan, fps)
    assert len(truth) == 2 and all(w.permanence and not w.extra and w.unchanged for w in truth)
    assert all(w.position_error < 1.0 for w in truth)
    assert truth[0].g_fits and truth[0].g_ok  # the first bounces are long enough to fit
    lost = frames.copy()
    lost[90:] = lost[0, 0, 0]  # the object vanishes after 11 s: the background everywhere
    scored = score_windows(lost, plan, fps)
    assert scored[0].permanence and not scored[1].permanence
    moved = np.roll(frames, 8, axis=2)  # drawn 8 px off its planned place
    assert all(w.position_error > 6 for w in score_windows(moved, plan, fps))
    extra = frames.copy()
    extra[:, 2:8, 2:8] = (40, 190, 70)  # a green square nobody asked for
    assert all(w.extra for w in score_windows(extra, plan, fps))
