"""The cascade: a base model, then a temporal and a spatial refiner (twice the frame rate,
twice the size), each a transformer that reads the stage before it through `resample_latent`."""

from sorakit.cascade.resample import KINDS, low_version, refined_shape, resample_latent

__all__ = ["KINDS", "low_version", "refined_shape", "resample_latent"]
