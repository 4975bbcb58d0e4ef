"""Verifiable outputs: an invisible watermark in the pixels and a signed C2PA manifest.

The lowest layer beside fileio: numpy, `cryptography` and `c2pa` only, so that the pipeline
(which writes files) and the command line (which verifies them) can both use it.
"""
