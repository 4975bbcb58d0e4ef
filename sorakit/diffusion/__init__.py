"""Rectified flow: the time convention, timestep sampling and pure-function samplers."""

from sorakit.diffusion.flow import (
    classifier_free_guidance,
    euler_sample,
    heun_sample,
    interpolate,
    sample_timesteps,
    sampling_times,
    shift_for_tokens,
    shift_time,
    velocity_target,
)

__all__ = [
    "classifier_free_guidance",
    "euler_sample",
    "heun_sample",
    "interpolate",
    "sample_timesteps",
    "sampling_times",
    "shift_for_tokens",
    "shift_time",
    "velocity_target",
]
