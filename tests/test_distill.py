"""The distilled sampler: the flow-map solver, the step-size input, the sampler's choice, the
pipeline's modes with it, and the distillation itself (trajectories, training, resume)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from tiny_models import layout_pipeline

from sorakit.diffusion import euler_sample, flow_map_sample, sampling_times, velocity_target
from sorakit.diffusion.denoise import generate_latents
from sorakit.models.dit import DIT_PRESETS, DiT
from sorakit.models.tokens import Sample, pack, split_tokens, stack
from sorakit.pipeline import GenerationError, GenerationRequest, PipelineConfig
from sorakit.pipeline import TextToVideoPipeline as Pipe
from sorakit.pipeline.config import DISTILLED_FOLDER
from sorakit.pipeline.pipeline import install_distilled
from sorakit.pipeline.request import choose_sampler
from sorakit.train.distill import (
    KEEP_EVERY,
    TEACHER_STEPS,
    DistillConfig,
    Distiller,
    TrajectoryConfig,
    flow_map_error,
    grid_pairs,
    make_trajectories,
    student_from,
)


@pytest.fixture(autouse=True)
def _threads_kept():
    """Distillation here runs on one thread (`threads=1`, bit-exact resumes); later tests, the
    golden outputs among them, must find torch's thread count as it was."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# --- the solver ---
def test_an_exact_flow_map_lands_on_the_data_in_one_step():
    """For one data point x0 the average velocity over any [t - d, t] is (x_t - x0) / t: an
    exact map needs one jump, whatever the grid."""
    x0, noise = torch.randn(8), torch.randn(8)
    exact = lambda x, t, d: (x - x0) / t  # noqa: E731
    for steps in (1, 2, 4):
        torch.testing.assert_close(flow_map_sample(exact, noise, sampling_times(steps)), x0)


def test_a_flow_map_blind_to_its_step_is_euler():
    v = lambda x, t: velocity_target(torch.zeros_like(x), x) * (1 + t)  # noqa: E731
    times = sampling_times(5, shift=2.0)
    x = torch.randn(6)
    torch.testing.assert_close(
        flow_map_sample(lambda x, t, d: v(x, t), x, times), euler_sample(v, x, times)
    )


def test_euler_records_every_state_of_its_grid():
    states: list[torch.Tensor] = []
    out = euler_sample(lambda x, t: x, torch.ones(3), sampling_times(4), states)
    assert len(states) == 5 and torch.equal(states[-1], out)
    assert torch.equal(states[0], torch.ones(3))


# --- the step-size input ---
def _student(seed: int = 0) -> tuple[DiT, DiT]:
    torch.manual_seed(seed)
    teacher = DiT(DIT_PRESETS["tiny"])
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return teacher.eval(), student_from(teacher).eval()


def _samples(step: float | None, n: int = 2) -> list[Sample]:
    g = torch.Generator().manual_seed(3)
    return [
        Sample(torch.randn(4, 2, 4, 4, generator=g), torch.tensor(0.7), 8.0,
               torch.randn(5, 384, generator=g), step=step)
        for _ in range(n)
    ]  # fmt: skip


def test_a_student_starts_as_its_teacher_and_then_reads_the_step():
    teacher, student = _student()
    cfg = teacher.config
    with torch.no_grad():
        want = teacher(stack(_samples(None), cfg.patch_size, cfg.ref_fps))
        for step in (0.0, 0.25, 1.0):
            got = student(stack(_samples(step), cfg.patch_size, cfg.ref_fps))
            torch.testing.assert_close(got, want)
        student.step_embed.weight.normal_()
        small = student(stack(_samples(0.25), cfg.patch_size, cfg.ref_fps))
        large = student(stack(_samples(1.0), cfg.patch_size, cfg.ref_fps))
    assert (small - large).abs().max() > 1e-3
    with pytest.raises(ValueError, match="step"):
        student(stack(_samples(None), cfg.patch_size, cfg.ref_fps))


def test_packed_equals_stacked_with_step_sizes():
    _, student = _student()
    with torch.no_grad():
        student.step_embed.weight.normal_()
    samples = _samples(0.5, 1) + _samples(0.25, 1)
    cfg = student.config
    with torch.no_grad():
        stacked = split_tokens(b := stack(samples, cfg.patch_size, cfg.ref_fps), student(b))
        packed = split_tokens(b := pack(samples, cfg.patch_size, cfg.ref_fps), student(b))
    for s, p in zip(stacked, packed, strict=True):
        torch.testing.assert_close(s, p, atol=1e-5, rtol=1e-5)


# --- the sampler ---
def test_the_distilled_sampler_runs_one_pass_a_step_without_guidance():
    teacher, student = _student()
    passes: list[int] = []
    student.register_forward_hook(lambda m, args, out: passes.append(out.shape[0]))
    noise = torch.randn(1, 4, 2, 4, 4)
    text = [torch.randn(5, 384)]
    generate_latents(student, noise, text, [torch.randn(2, 384)], 8.0, steps=3, guidance=4.0,
                     sampler="distilled")  # fmt: skip
    assert passes == [1, 1, 1]  # no unconditional pass
    with pytest.raises(ValueError, match="distilled sampler"):
        generate_latents(student, noise, text, text, 8.0, steps=2, sampler="euler")
    with pytest.raises(ValueError, match="distilled sampler needs"):
        generate_latents(teacher, noise, text, text, 8.0, steps=2, sampler="distilled")


@pytest.mark.parametrize(
    "request_fields,want",
    [
        ({}, ("distilled", 4)),
        ({"steps": 2}, ("distilled", 2)),
        ({"steps": 8}, ("euler", 8)),
        ({"sampler": "euler"}, ("euler", 30)),
        ({"sampler": "heun", "steps": 3}, ("heun", 3)),
        ({"sampler": "distilled", "steps": 1}, ("distilled", 1)),
        ({"steps": 8, "guidance": 6.0}, ("euler", 8)),
    ],
)
def test_the_sampler_a_request_gets(request_fields, want):
    config = PipelineConfig(sampler="distilled", distilled_steps=4, steps=30)
    assert choose_sampler(GenerationRequest(prompt="x", **request_fields), config) == want
    full = PipelineConfig(steps=30)  # a model without a distilled sampler by default
    sampler, _ = choose_sampler(GenerationRequest(prompt="x", **request_fields), full)
    assert sampler == request_fields.get("sampler", "euler")


@pytest.mark.parametrize(
    "request_fields,message",
    [
        ({"sampler": "distilled", "steps": 8}, "1 to 4 steps"),
        ({"guidance": 6.0}, "guidance is built into"),
        ({"shape_contrast": 0.0}, "shape contrast is built into"),
        ({"guidance_interval": (0.0, 0.5)}, "guidance interval is built into"),
    ],
)
def test_what_the_distilled_sampler_refuses(request_fields, message):
    config = PipelineConfig(sampler="distilled", shape_contrast=6.0)
    with pytest.raises(GenerationError, match=message):
        choose_sampler(GenerationRequest(prompt="x", **request_fields), config)
    # The model's own values are the ones built in: a re-run with its recorded settings runs.
    own = dict(guidance=config.guidance, shape_contrast=6.0, guidance_interval=(0.0, 1.0))
    assert choose_sampler(GenerationRequest(prompt="x", **own), config) == ("distilled", 4)


# --- a model folder with a distilled transformer ---
@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A tiny model folder with a distilled transformer installed (a student nudged off its
    teacher, so the two samplers differ)."""
    pipe = layout_pipeline()
    path = tmp_path_factory.mktemp("model")
    pipe.save_pretrained(path)
    student = student_from(pipe.transformer)
    with torch.no_grad():
        student.step_embed.weight.normal_()
    student.save_pretrained(path / "student")
    install_distilled(path, path / "student", steps=2)
    return path


def test_installing_makes_the_distilled_sampler_the_default(folder):
    raw = json.loads((folder / "pipeline.json").read_text())
    assert raw["sampler"] == "distilled" and raw["distilled_steps"] == 2
    assert DISTILLED_FOLDER in raw["weights_sha256"]
    pipe = Pipe.from_pretrained(folder)
    video = pipe("a red ball falls", seed=1)
    assert video.provenance.sampler == "distilled" and video.provenance.steps == 2
    full = pipe("a red ball falls", seed=1, sampler="euler", steps=2)
    assert full.provenance.sampler == "euler"
    assert not np.array_equal(video.frames, full.frames)
    again = pipe("a red ball falls", seed=1)
    assert np.array_equal(video.frames, again.frames)


def test_every_mode_runs_with_the_distilled_sampler(folder):
    pipe = Pipe.from_pretrained(folder)
    rng = np.random.default_rng(2)
    a = rng.integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    b = rng.integers(0, 255, (9, 16, 16, 3), dtype=np.uint8)
    image = pipe("a red ball", image=a[0], frames=9)
    assert image.provenance.sampler == "distilled"
    # The given frame is held: the first decoded frame is the image's round trip.
    assert image.frames.shape == (9, 16, 16, 3)
    assert pipe("x", video=b, video_fps=8.0, extend="forward", frames=5).frames.shape[0] == 9 + 4
    assert pipe("x", video=b, video_fps=8.0, strength=0.5).frames.shape == b.shape
    assert pipe("x", connect=((a, 8.0), (b, 8.0)), frames=9).frames.shape[0] == 5 + 8 + 8
    assert pipe("x", loop=True, frames=9).frames.shape[0] == 9


def test_a_damaged_distilled_transformer_fails_when_the_model_loads(folder, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    pipe = Pipe.from_pretrained(copy)
    assert len(pipe.models()) == 3  # vae, transformer, distilled
    weights = copy / DISTILLED_FOLDER / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(GenerationError, match="sha256"):
        Pipe.from_pretrained(copy)


def test_a_model_without_a_distilled_transformer_says_so(tmp_path):
    pipe = layout_pipeline()
    with pytest.raises(GenerationError, match="no distilled transformer"):
        pipe("a red ball", sampler="distilled")
    with pytest.raises(ValueError, match="no transformer_distilled"):
        Pipe(pipe.vae, pipe.transformer, pipe.text_encoder,
             replace(pipe.config, sampler="distilled"))  # fmt: skip


# --- distillation ---
@pytest.fixture(scope="module")
def trajectories(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("trajectories")
    cfg = TrajectoryConfig(model=str(folder), out=str(out), num=6, batch=3, width=16,
                           height=16, frames=9, shares=(0.5, 0.25, 0.25))  # fmt: skip
    make_trajectories(cfg)
    return out


def test_trajectories_are_the_teachers_own_runs(folder, trajectories):
    from safetensors import safe_open

    from sorakit.pipeline.blocks import encode_text

    meta = json.loads((trajectories / "trajectories.json").read_text())
    assert len(meta["times"]) == TEACHER_STEPS // KEEP_EVERY + 1
    pipe = Pipe.from_pretrained(folder)
    with safe_open(str(trajectories / "shard-00000.safetensors"), "pt") as f:
        states, seeds = f.get_tensor("states"), f.get_tensor("seed").tolist()
        kind, prompts = f.metadata()["kind"], json.loads(f.metadata()["prompts"])
        text_len = f.get_tensor("text_len").tolist()
        names = set(f.keys())
        layout = f.get_tensor("layout") if "layout" in names else None
    i = 0
    noise = torch.randn(states.shape[2:], generator=torch.Generator().manual_seed(seeds[i]))
    torch.testing.assert_close(states[i, 0], noise)
    # The last state is what the teacher's guided Euler run of that prompt gives.
    c = pipe.config
    planned = kind == "planned"
    want = generate_latents(
        pipe.transformer, noise[None], encode_text(pipe.text_encoder, [prompts[i]]),
        encode_text(pipe.text_encoder, [""]), 8.0, steps=TEACHER_STEPS, guidance=c.guidance,
        guidance_interval=(c.plan_guidance_interval or c.guidance_interval) if planned
        else c.guidance_interval, layout=None if layout is None else layout[i : i + 1],
    )  # fmt: skip
    assert text_len[i] == encode_text(pipe.text_encoder, [prompts[i]])[0].shape[0]
    torch.testing.assert_close(states[i, -1], want[0], atol=1e-4, rtol=1e-4)


def _distiller(trajectories, out, **fields) -> Distiller:
    model = json.loads((trajectories / "trajectories.json").read_text())["config"]["model"]
    fields = {"batch_size": 4, "held_out": 1, "checkpoint_every": 3, "lr": 1e-3, "warmup": 1,
              "dtype": "fp32", "threads": 1, **fields}  # fmt: skip
    return Distiller(DistillConfig(trajectories=str(trajectories), out=str(out), init=model,
                                   **fields))  # fmt: skip


def test_distillation_resumes_exactly(trajectories, tmp_path):
    from sorakit.train.stop import StopOnSignal

    straight = _distiller(trajectories, tmp_path / "a", steps=6)
    straight.run()
    stopped = _distiller(trajectories, tmp_path / "b", steps=6)
    with StopOnSignal(after=3) as stop:
        assert stopped.run(stop=stop) is None
    resumed = _distiller(trajectories, tmp_path / "b", steps=6)
    assert resumed.resume() and resumed.step == 3
    resumed.run()
    for a, b in zip(straight.ema.state_dict().values(), resumed.ema.state_dict().values(),
                    strict=True):  # fmt: skip
        assert torch.equal(a, b)
    assert (tmp_path / "a" / "model" / "model.safetensors").is_file()


def test_the_student_learns_the_teachers_jumps(trajectories, tmp_path):
    """Trained on the jumps of the 1-step sampler, its one jump lands nearer the teacher's
    result than the teacher's own velocity does in one Euler step."""
    d = _distiller(trajectories, tmp_path, steps=40, batch_size=8, lr=3e-3, grid_share=1.0,
                   checkpoint_every=40)  # fmt: skip
    train = [int(i) for i in d.train_ids]
    before = flow_map_error(d.model.eval(), d.data, train, 1)
    d.run()
    after = flow_map_error(d.model.eval(), d.data, train, 1)
    assert after < 0.5 * before, (before, after)


def test_grid_pairs_are_the_steps_of_each_student_sampler():
    assert grid_pairs(17) == [(0, 16), (0, 8), (8, 16), (0, 4), (4, 8), (8, 12), (12, 16)]
