"""What provenance a saved output carries, as the caller asked for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography loads only when a file is signed
    from sorakit.provenance.certs import SigningIdentity


@dataclass(frozen=True)
class ProvenanceOptions:
    """Both marks are on unless `enabled` is False (research use: outputs that cannot be
    told from any other video)."""

    enabled: bool = True
    include_prompt: bool = False  # the C2PA manifest holds the prompt's hash, not the prompt
    signing_cert: Path | None = None  # PEM: the signing certificate and its issuers
    signing_key: Path | None = None  # PEM: its private key
    ingredients: tuple[Path, ...] = ()  # the inputs an edit or extension was made from

    def __post_init__(self) -> None:
        if (self.signing_cert is None) != (self.signing_key is None):
            raise ValueError("give both a signing certificate and its key, or neither")

    def identity(self) -> SigningIdentity:
        """The organisation's certificate and key if given, else the local chain."""
        from sorakit.provenance.certs import SigningIdentity, local_identity

        if self.signing_cert is not None and self.signing_key is not None:
            return SigningIdentity(self.signing_cert.read_bytes(), self.signing_key.read_bytes())
        return local_identity()


OFF = ProvenanceOptions(enabled=False)
