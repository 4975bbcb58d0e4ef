"""The diffusion transformer and its spacetime patches: round trips, packing, rotary time."""

import math
from dataclasses import replace

import pytest
import torch

from sorakit.models.dit import (
    DIT_PRESETS,
    DiT,
    DiTConfig,
    apply_rope,
    attention_layout,
    pooled,
    rope_axes,
    rope_rotations,
)
from sorakit.models.tokens import (
    Sample,
    distinct_tokens,
    pack,
    patchify,
    positions,
    stack,
    to_latents,
    unpatchify,
)

TINY = DIT_PRESETS["tiny"]


def _model(seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    model = DiT(TINY)
    # Zero-initialised gates and output would make every check pass trivially: randomise them.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def _sample(shape, fps=8.0, text_len=5, t=0.5, seed=0) -> Sample:
    g = torch.Generator().manual_seed(seed)
    latent = torch.randn(TINY.in_channels, *shape, generator=g)
    text = torch.randn(text_len, TINY.text_dim, generator=g)
    return Sample(latent, torch.tensor(t), fps, text)


@pytest.mark.parametrize("patch", [(1, 2, 2), (1, 1, 1), (2, 2, 1)])
def test_patchify_round_trip(patch):
    x = torch.randn(2, 4, 4, 6, 8)
    tokens = patchify(x, patch)
    grid = (4 // patch[0], 6 // patch[1], 8 // patch[2])
    assert tokens.shape == (2, grid[0] * grid[1] * grid[2], 4 * patch[0] * patch[1] * patch[2])
    assert torch.equal(unpatchify(tokens, grid, patch), x)


def test_patchify_rejects_indivisible():
    with pytest.raises(ValueError, match="multiple of the patch size"):
        patchify(torch.randn(1, 4, 3, 5, 4), (1, 2, 2))


def test_token_order_is_raster_over_t_h_w():
    x = torch.zeros(1, 1, 2, 2, 2)
    x[0, 0, 1, 0, 1] = 1.0  # t=1, h=0, w=1 -> token 1*4 + 0*2 + 1 = 5
    assert patchify(x, (1, 1, 1))[0, :, 0].argmax() == 5


def test_temporal_positions_follow_frame_rate():
    slow = positions((3, 1, 1), (1, 1, 1), fps=8.0, ref_fps=8.0)[:, 0]
    fast = positions((3, 1, 1), (1, 1, 1), fps=16.0, ref_fps=8.0)[:, 0]
    assert torch.allclose(slow, torch.tensor([0.0, 1.0, 2.0]))
    assert torch.allclose(fast, slow / 2)  # twice the frame rate: latent frames half as far


def test_rope_axes_cover_head():
    for d in (16, 32, 64, 128):
        axes = rope_axes(d)
        assert sum(axes) == d and all(a % 2 == 0 and a > 0 for a in axes)


def test_rope_rotates_pairs_so_scores_depend_on_relative_position():
    head_dim, gen = 12, torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 1, 1, 1, head_dim, generator=gen)  # (B, N, heads, d) each

    def rotated(x, pos):
        return apply_rope(x, rope_rotations(torch.tensor([[pos]]), head_dim, 10000.0))

    # The first pair turns by the time position itself (frequency 1), as a 2x2 rotation.
    t = 0.7
    pair = rotated(q, (t, 0.0, 0.0))[0, 0, 0, :2]
    turn = torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    expected = turn @ q[0, 0, 0, :2]
    torch.testing.assert_close(pair, expected)
    # Norms are kept, and a query-key product sees only the offset between their positions.
    torch.testing.assert_close(rotated(q, (3.0, 1.0, 2.0)).norm(), q.norm())
    a = (rotated(q, (3.0, 1.0, 2.0)) * rotated(k, (1.0, 4.0, 0.0))).sum()
    b = (rotated(q, (5.0, -2.0, 7.0)) * rotated(k, (3.0, 1.0, 5.0))).sum()
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, (rotated(q, (3.0, 1.0, 2.0)) * rotated(k, (1.0, 4.0, 1.0))).sum())


def test_packed_equals_each_clip_alone():
    model = _model()
    samples = [
        _sample((3, 4, 4), fps=8.0, text_len=5, t=0.3, seed=1),
        _sample((1, 6, 2), fps=12.0, text_len=9, t=0.8, seed=2),  # an image, another aspect
        _sample((2, 2, 8), fps=24.0, text_len=3, t=0.5, seed=3),
    ]
    assert_packed_equals_alone(model, samples)


def assert_packed_equals_alone(model: DiT, samples: list[Sample]) -> None:
    patch = TINY.patch_size
    with torch.no_grad():
        packed = pack(samples, patch, TINY.ref_fps)
        together = to_latents(packed, model(packed), patch)
        for s, out in zip(samples, together, strict=True):
            alone = stack([s], patch, TINY.ref_fps)
            (expected,) = to_latents(alone, model(alone), patch)
            assert out.shape == s.latent.shape
            torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


def test_distinct_tokens_give_every_token_its_own_key():
    g = torch.Generator().manual_seed(0)
    keys = torch.randint(0, 3, (2, 40, 2), generator=g).double()
    rows, cols, index = distinct_tokens(keys, per_row=True)
    assert torch.equal(keys[rows, cols][index], keys)
    assert torch.equal(rows[index], torch.arange(2)[:, None].expand(2, 40))  # never across rows
    assert len(rows) == sum(len(torch.unique(k, dim=0)) for k in keys)
    uniform = keys[:, :1].expand(2, 40, 2)
    rows, cols, index = distinct_tokens(uniform, per_row=True)
    assert index.shape == (2, 1) and torch.equal(uniform[rows, cols][index], uniform[:, :1])


def test_packed_clips_with_clean_frames_equal_each_clip_alone():
    """Per-frame times (conditioning frames kept clean) beside a clip at one time."""
    model = _model()
    framed = _sample((3, 4, 4), seed=4)
    framed.t = torch.tensor([0.0, 0.7, 0.7])
    samples = [framed, _sample((2, 2, 4), t=0.7, seed=5)]
    assert_packed_equals_alone(model, samples)
    with torch.no_grad():
        packed = pack(samples, TINY.patch_size, TINY.ref_fps)
        # Conditioning computed once per distinct condition equals computing it per token.
        text = model.text_proj(packed.text)
        layout = attention_layout(packed)
        c, index = model._conditions(packed, text, layout)
        per_token = model.cond(packed.t, packed.fps, packed.size)
        per_token = per_token + model.text_pool(pooled(text, layout))
        torch.testing.assert_close(c[index], per_token)
        assert len(c) == 2 + 1  # the clean frame, the noisy frames, the other clip


def test_stacked_batch_with_padded_captions_equals_rows_alone():
    model = _model()
    samples = [_sample((2, 4, 4), text_len=n, seed=n) for n in (3, 7)]
    with torch.no_grad():
        both = model(stack(samples, TINY.patch_size, TINY.ref_fps))
        for i, s in enumerate(samples):
            alone = model(stack([s], TINY.patch_size, TINY.ref_fps))
            torch.testing.assert_close(both[i : i + 1], alone, atol=1e-5, rtol=1e-4)


def test_output_depends_on_caption_time_and_fps():
    model = _model()
    base = _sample((2, 4, 4), seed=1)
    patch, ref = TINY.patch_size, TINY.ref_fps
    variants = {
        "caption": Sample(base.latent, base.t, base.fps, torch.randn_like(base.text)),
        "time": Sample(base.latent, torch.tensor(0.9), base.fps, base.text),
        "fps": Sample(base.latent, base.t, 24.0, base.text),
    }
    with torch.no_grad():
        ref_out = model(stack([base], patch, ref))
        for name, v in variants.items():
            assert not torch.allclose(model(stack([v], patch, ref)), ref_out, atol=1e-4), name


def test_attention_stays_within_the_clip():
    """Changing one packed clip must not change another clip's output."""
    model = _model()
    a, b = _sample((2, 4, 4), seed=1), _sample((2, 4, 4), seed=2)
    b2 = Sample(b.latent + 1.0, b.t, b.fps, b.text)
    with torch.no_grad():
        first = to_latents(pk := pack([a, b], TINY.patch_size, 8.0), model(pk), TINY.patch_size)
        second = to_latents(pk := pack([a, b2], TINY.patch_size, 8.0), model(pk), TINY.patch_size)
    torch.testing.assert_close(first[0], second[0])
    assert not torch.allclose(first[1], second[1])


def test_untrained_model_predicts_zero_and_saves(tmp_path):
    model = DiT(TINY)
    batch = stack([_sample((1, 4, 4))], TINY.patch_size, TINY.ref_fps)
    assert torch.count_nonzero(model(batch)) == 0  # adaLN-zero: the identity at init
    trained = _model(seed=3)
    trained.save_pretrained(tmp_path / "dit")
    loaded = DiT.from_pretrained(tmp_path / "dit")
    assert loaded.config == trained.config
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch), trained(batch))


def test_config_rejects_bad_heads():
    with pytest.raises(ValueError, match="heads"):
        DiTConfig(dim=30, heads=4)


@pytest.mark.parametrize("build", ["stack", "pack"])
def test_the_forward_never_waits_on_the_device(build, monkeypatch):
    """Each read of a tensor's value on the host (`.item()`, `.tolist()`, `bool()`...) stalls a
    GPU until its queued work is done. A batch from `stack` or `pack` carries what the forward
    needs to know on the host, so the forward reads nothing back."""
    model = DiT(TINY).eval()
    samples = [_sample((3, 4, 4)), _sample((3, 4, 4), t=0.3)]
    samples[1] = replace(samples[1], t=torch.tensor([0.0, 0.3, 0.3]))  # a given first frame
    batch = (stack if build == "stack" else pack)(samples, TINY.patch_size, TINY.ref_fps)
    expected = model(replace(batch, routing=None))  # the routing worked out in the forward

    def refuse(name):
        def read(self, *args, **kwargs):
            raise AssertionError(f"the forward called Tensor.{name}")

        return read

    for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__",
                 "__index__"):  # fmt: skip
        monkeypatch.setattr(torch.Tensor, name, refuse(name))
    with torch.no_grad():
        out = model(batch)
    monkeypatch.undo()
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
