"""sorakit: an open, hackable implementation of the Sora recipe for text-to-video."""

__version__ = "0.1.0"
