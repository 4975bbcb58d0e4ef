"""Rectified flow: the time convention, timestep sampling and pure-function samplers."""

from sorakit.diffusion.flow import (
    check_guidance_interval,
    classifier_free_guidance,
    contrast_guidance,
    euler_sample,
    flow_map_sample,
    guides_at,
    heun_sample,
    interpolate,
    sample_timesteps,
    sampling_times,
    shift_for_tokens,
    shift_time,
    velocity_target,
)

__all__ = [
    "check_guidance_interval",
    "classifier_free_guidance",
    "contrast_guidance",
    "euler_sample",
    "flow_map_sample",
    "guides_at",
    "heun_sample",
    "interpolate",
    "sample_timesteps",
    "sampling_times",
    "shift_for_tokens",
    "shift_time",
    "velocity_target",
]
