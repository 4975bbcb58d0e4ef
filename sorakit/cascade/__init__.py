"""The cascade: a base model, then a temporal and a spatial refiner (twice the frame rate,
twice the size), each a transformer that reads the stage before it through `refiner_input`."""

from sorakit.cascade.resample import (
    KINDS,
    downsample,
    refined_shape,
    refiner_input,
    upsample_video,
)

__all__ = ["KINDS", "downsample", "refined_shape", "refiner_input", "upsample_video"]
