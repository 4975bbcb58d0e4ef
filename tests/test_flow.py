"""Rectified flow: the time convention, the timestep sampler and the ODE samplers."""

import math

import pytest
import torch

from sorakit.diffusion import (
    classifier_free_guidance,
    contrast_guidance,
    euler_sample,
    heun_sample,
    interpolate,
    sample_timesteps,
    sampling_times,
    shift_for_tokens,
    shift_time,
    velocity_target,
)
from sorakit.diffusion.denoise import time_grid


def test_convention_data_at_zero_noise_at_one():
    x0, noise = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.equal(interpolate(x0, noise, torch.tensor(0.0)), x0)
    assert torch.equal(interpolate(x0, noise, torch.tensor(1.0)), noise)
    # The target is the time derivative of the path.
    t, dt = torch.tensor(0.3), 1e-3
    numeric = (interpolate(x0, noise, t + dt) - interpolate(x0, noise, t)) / dt
    torch.testing.assert_close(numeric, velocity_target(x0, noise), atol=1e-2, rtol=1e-2)


def test_exact_velocity_takes_noise_to_data_in_one_step():
    x0, noise = torch.randn(8), torch.randn(8)
    out = euler_sample(lambda x, t: velocity_target(x0, noise), noise, sampling_times(1))
    torch.testing.assert_close(out, x0)


def _gaussian_velocity(mu: float, sigma: float):
    """Exact velocity of the flow from N(mu, sigma^2) data to N(0, 1) noise.

    x_t = (1 - t) x0 + t n is Gaussian with mean m = (1 - t) mu and variance
    s^2 = (1 - t)^2 sigma^2 + t^2, and the flow is affine: v = m' + s'/s (x - m).
    """

    def velocity(x, t):
        m, dm = (1 - t) * mu, -mu
        s2 = (1 - t) ** 2 * sigma**2 + t**2
        ds2 = -2 * (1 - t) * sigma**2 + 2 * t
        return dm + 0.5 * ds2 / s2 * (x - m)

    return velocity


@pytest.mark.parametrize("sampler,steps,tol", [(euler_sample, 200, 0.02), (heun_sample, 20, 0.01)])
def test_samplers_integrate_analytic_flow(sampler, steps, tol):
    mu, sigma = 2.0, 0.5
    noise = torch.randn(20000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = sampler(_gaussian_velocity(mu, sigma), noise, sampling_times(steps, shift=2.0).double())
    assert abs(out.mean().item() - mu) < tol
    assert abs(out.std().item() - sigma) < tol
    # The flow is deterministic and monotone: each noise value maps to mu + sigma * noise.
    torch.testing.assert_close(out, mu + sigma * noise, atol=5 * tol, rtol=0)


def test_heun_beats_euler_at_equal_steps():
    v = _gaussian_velocity(1.0, 0.3)
    noise = torch.linspace(-2, 2, 101, dtype=torch.float64)
    exact = 1.0 + 0.3 * noise
    times = sampling_times(8).double()
    err_euler = (euler_sample(v, noise, times) - exact).abs().max()
    err_heun = (heun_sample(v, noise, times) - exact).abs().max()
    assert err_heun < err_euler / 2  # measured 0.046 vs 0.13; the last step is Euler


def test_shift():
    t = torch.linspace(0, 1, 11)
    torch.testing.assert_close(shift_time(t, 1.0), t)
    shifted = shift_time(t, 3.0)
    assert shifted[0] == 0 and shifted[-1] == 1 and (shifted[1:-1] > t[1:-1]).all()
    assert shift_for_tokens(64) == pytest.approx(1.0)
    assert shift_for_tokens(4096) == pytest.approx(3.0)
    assert shift_for_tokens(256) < shift_for_tokens(1024)


def test_sampling_times_grid():
    times = sampling_times(10, shift=2.0)
    assert times.shape == (11,) and times[0] == 1 and times[-1] == 0
    assert (times[1:] < times[:-1]).all()
    with pytest.raises(ValueError):
        sampling_times(0)


@pytest.mark.parametrize("shift", [1.0, 2.5])
def test_sdedit_grid_takes_every_step_from_its_start(shift):
    torch.testing.assert_close(time_grid(8, shift), sampling_times(8, shift))
    times = time_grid(8, shift, strength=0.3)
    assert times.shape == (9,) and times[0] == pytest.approx(0.3) and times[-1] == 0
    assert (times[1:] < times[:-1]).all()
    unshifted = times / (shift - (shift - 1) * times)  # the full grid's law: equal steps
    torch.testing.assert_close(unshifted[:-1] - unshifted[1:], (unshifted[0] / 8).expand(8))
    with pytest.raises(ValueError, match="strength"):
        time_grid(8, shift, strength=0.0)


def test_logit_normal_timesteps():
    g = torch.Generator().manual_seed(0)
    t = sample_timesteps(50000, generator=g)
    assert t.min() > 0 and t.max() < 1
    assert abs(t.median().item() - 0.5) < 0.01  # logit-normal(0, 1) is centred on 1/2
    shifted = sample_timesteps(50000, shift=3.0, generator=torch.Generator().manual_seed(0))
    # The shift moves the median to 3 * 0.5 / (1 + 2 * 0.5) = 0.75.
    assert abs(shifted.median().item() - 0.75) < 0.01
    per_sample = sample_timesteps(2, shift=torch.tensor([1.0, 1e6]), generator=g)
    assert per_sample[1] > 0.999


def test_guidance():
    c, u = torch.tensor([2.0]), torch.tensor([1.0])
    assert classifier_free_guidance(c, u, 1.0) == c
    assert classifier_free_guidance(c, u, 0.0) == u
    assert classifier_free_guidance(c, u, 3.0) == torch.tensor([4.0])
    assert math.isclose(float(classifier_free_guidance(c, u, 0.5)), 1.5)


def test_contrast_guidance_pushes_by_the_difference_of_the_conditions():
    v, cond, contrast = torch.tensor([1.0]), torch.tensor([3.0]), torch.tensor([2.5])
    assert contrast_guidance(v, cond, contrast, 0.0) == v
    assert contrast_guidance(v, cond, cond, 5.0) == v  # conditions that agree: no push
    assert contrast_guidance(v, cond, contrast, 2.0) == torch.tensor([2.0])
