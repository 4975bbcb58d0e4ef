"""Error correction for the watermark payload: the extended binary Golay code (24, 12, 8).

Each 12-bit block becomes 24 coded bits. Decoding is maximum likelihood on soft values (the
correlation with each of the 4096 codewords), which corrects every pattern of 3 flipped bits
and most of 4 to 7 when the soft values say which bits are unsure.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# The parity half of a systematic generator [I | B] of the extended Golay code.
_B = [
    "110111000101", "101110001011", "011100010111", "111000101101",
    "110001011011", "100010110111", "000101101111", "001011011101",
    "010110111001", "101101110001", "011011100011", "111111111110",
]  # fmt: skip
INFO_BITS, CODE_BITS = 12, 24


@lru_cache(maxsize=1)
def _codebook() -> np.ndarray:
    """(4096, 24) uint8: the codeword of every 12-bit message, row i for message i (MSB first)."""
    parity = np.array([[int(c) for c in row] for row in _B], dtype=np.int64)
    messages = (np.arange(1 << INFO_BITS)[:, None] >> np.arange(INFO_BITS - 1, -1, -1)) & 1
    return np.concatenate([messages, messages @ parity % 2], axis=1).astype(np.uint8)


def encode(bits: np.ndarray) -> np.ndarray:
    """Coded bits for `bits` (a multiple of 12 long), block by block."""
    blocks = np.asarray(bits, dtype=np.int64).reshape(-1, INFO_BITS)
    index = blocks @ (1 << np.arange(INFO_BITS - 1, -1, -1))
    return _codebook()[index].reshape(-1)


def decode_soft(soft: np.ndarray) -> np.ndarray:
    """The most likely message bits for soft values (positive: 1), a multiple of 24 long."""
    signs = 2.0 * _codebook().astype(np.float64) - 1.0  # (4096, 24) of +-1
    blocks = np.asarray(soft, dtype=np.float64).reshape(-1, CODE_BITS)
    best = np.argmax(blocks @ signs.T, axis=1)
    return _codebook()[best, :INFO_BITS].reshape(-1)
