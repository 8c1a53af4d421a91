"""SM2 key files: PKCS#8 PEM, encrypted (PBES2) when a passphrase is given.

Standard PKCS#8 means the keys open in Tongsuo/GmSSL tooling too. Files are written 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

from chainnode.crypto.sm2 import PrivateKey


class KeyFileError(ValueError):
    pass


def dumps_private_key(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    from tongsuopy.crypto import serialization
    from tongsuopy.crypto.asymciphers import ec

    k = ec.derive_private_key(key.secret, ec.SM2())
    enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
           else serialization.NoEncryption())
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def loads_private_key(pem: bytes, passphrase: bytes | None = None) -> PrivateKey:
    from tongsuopy.crypto import serialization
    from tongsuopy.crypto.asymciphers import ec
    from tongsuopy.crypto.exceptions import UnsupportedAlgorithm

    encrypted = b"ENCRYPTED" in pem.split(b"\n", 1)[0]
    if encrypted and not passphrase:
        raise KeyFileError("key file is encrypted: a passphrase is required")
    try:
        k = serialization.load_pem_private_key(pem, passphrase if encrypted else None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"cannot load key: {exc.args[0] if exc.args else exc}") from exc
    if not (isinstance(k, ec.EllipticCurvePrivateKey) and isinstance(k.curve, ec.SM2)):
        raise KeyFileError("key file does not hold an SM2 private key")
    return PrivateKey(k.private_numbers().private_value)


def save_private_key(path: str | Path, key: PrivateKey, passphrase: bytes | None = None) -> None:
    path = Path(path)
    data = dumps_private_key(key, passphrase)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply when overwriting an existing file
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def load_private_key(path: str | Path, passphrase: bytes | None = None) -> PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from exc
    return loads_private_key(data, passphrase)
