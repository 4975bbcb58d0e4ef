"""The local certificate chain C2PA signs with: a root CA and a signing certificate it issued.

C2PA validators refuse a self-signed signing certificate, so sorakit makes a two-level chain
at first use, in the user's config directory. An organisation passes its own instead.
ES256 (ECDSA on P-256) keeps keys and signatures small.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sorakit.fileio import atomic_folder

ROOT_CERT, SIGN_CERT, SIGN_KEY = "root-ca.pem", "signing-chain.pem", "signing-key.pem"


@dataclass(frozen=True)
class SigningIdentity:
    """PEM bytes: the signing certificate followed by its issuers, and its private key."""

    chain: bytes
    key: bytes


def config_dir() -> Path:
    """Where the local chain lives: $SORAKIT_CONFIG_DIR, else $XDG_CONFIG_HOME/sorakit, else
    ~/.config/sorakit; the chain is in its `c2pa` folder (see identity_dir)."""
    if os.environ.get("SORAKIT_CONFIG_DIR"):
        return Path(os.environ["SORAKIT_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sorakit"


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sorakit local"),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(subject, issuer, public_key, signer_key, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)  # tolerate clock skew
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
        .add_extension(  # C2PA validators require the issuer's key id on every certificate
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), False
        )
    )
    if ca:
        usage = dict(key_cert_sign=True, crl_sign=True, digital_signature=False)
    else:  # C2PA wants a leaf for document signing: digitalSignature + emailProtection EKU
        usage = dict(key_cert_sign=False, crl_sign=False, digital_signature=True)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False
        )
    builder = builder.add_extension(
        x509.KeyUsage(
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, encipher_only=False, decipher_only=False, **usage,
        ),
        True,
    )  # fmt: skip
    return builder.sign(signer_key, hashes.SHA256())


def make_chain(folder: Path) -> None:
    """Write a new root CA, and a signing certificate and key it issued, as the folder
    `folder` (swapped in whole, so a reader never sees a key from one chain beside another)."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("sorakit local root CA")
    root = _certificate(root_name, root_name, root_key.public_key(), root_key, ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(
        _name("sorakit local signer"), root_name, leaf_key.public_key(), root_key, ca=False
    )
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + root.public_bytes(pem)

    def write_key(path: Path) -> None:
        path.touch(mode=0o600)  # private from the first byte
        path.write_bytes(_pem_key(leaf_key))

    atomic_folder(folder, {
        SIGN_KEY: write_key,
        SIGN_CERT: lambda p: p.write_bytes(chain),
        ROOT_CERT: lambda p: p.write_bytes(root.public_bytes(pem)),
    })  # fmt: skip


def identity_dir() -> Path:
    return config_dir() / "c2pa"


def local_identity(folder: Path | None = None) -> SigningIdentity:
    """The local chain, made at first use."""
    folder = folder or identity_dir()
    if not (folder / ROOT_CERT).exists():
        make_chain(folder)
    return SigningIdentity((folder / SIGN_CERT).read_bytes(), (folder / SIGN_KEY).read_bytes())


def local_trust_anchor(folder: Path | None = None) -> bytes | None:
    """The local root CA's PEM, or None if none was made yet."""
    path = (folder or identity_dir()) / ROOT_CERT
    return path.read_bytes() if path.exists() else None
