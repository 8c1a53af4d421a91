"""SM2 signatures (GB/T 32918) with the standard default user id and Z value.

Two independent implementations sit behind one interface: tongsuopy (Tongsuo in C; its calls
release the GIL, so verification scales across a thread pool) and gmssl (pure Python; the
fallback where tongsuopy cannot be imported, and the cross-check in tests). Signatures on the
wire are 64 bytes r||s; public keys are 64 bytes X||Y (the uncompressed point without 0x04).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

# SM2 recommended curve (GB/T 32918.5)
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
DEFAULT_USER_ID = b"1234567812345678"


class SignatureError(ValueError):
    pass


# Keys that passed the curve check. Every transaction names its sender's key, and a chain has
# few senders, so the big-int check would otherwise be redone for the same bytes on every tx
# (and again in every verify). Only immutable exact `bytes` are remembered, only after passing;
# a full set is emptied, so hostile keys cost one full check each and memory stays bounded.
MAX_CHECKED_KEYS = 4096
_checked: set[bytes] = set()


def _check_pub(raw: bytes) -> None:
    if type(raw) is bytes and raw in _checked:
        return
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != 64:
        raise SignatureError("SM2 public key must be 64 bytes X||Y")
    x = int.from_bytes(raw[:32], "big")
    y = int.from_bytes(raw[32:], "big")
    if not (x < P and y < P) or (y * y - (x * x * x + A * x + B)) % P != 0:
        raise SignatureError("SM2 public key is not a point on the curve")
    if type(raw) is bytes:
        if len(_checked) >= MAX_CHECKED_KEYS:
            _checked.clear()
        _checked.add(raw)


def check_public_key(raw: bytes) -> None:
    """Raise SignatureError unless `raw` is a 64-byte X||Y point on the curve (what
    PublicKey(raw) checks, without building the object)."""
    _check_pub(raw)


def _signature_scalars(sig: bytes) -> tuple[int, int] | None:
    """(r, s) of a 64-byte r||s signature, or None unless both lie in [1, n-1] (GB/T 32918)."""
    if len(sig) != 64:
        return None
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    return (r, s) if 0 < r < N and 0 < s < N else None


class Backend(Protocol):
    name: str

    def generate(self) -> int: ...
    def public_from_private(self, d: int) -> bytes: ...
    def sign(self, d: int, pub: bytes, msg: bytes) -> bytes: ...
    def verify(self, pub: bytes, msg: bytes, sig: bytes) -> bool: ...


class GmsslBackend:
    """Pure-Python SM2 (gmssl). Slow (~12 ms per verify) but independent of Tongsuo."""

    name = "gmssl"

    def generate(self) -> int:
        return secrets.randbelow(N - 2) + 1

    def public_from_private(self, d: int) -> bytes:
        from gmssl import sm2 as gsm2

        c = gsm2.CryptSM2(private_key=f"{d:064x}", public_key="")
        point = c._kg(d, gsm2.default_ecc_table["g"])
        return bytes.fromhex(point)

    def sign(self, d: int, pub: bytes, msg: bytes) -> bytes:
        from gmssl import sm2 as gsm2

        c = gsm2.CryptSM2(private_key=f"{d:064x}", public_key="")
        c.public_key = pub.hex()  # gmssl's constructor lstrip("04")s keys that start with 04
        k = f"{secrets.randbelow(N - 2) + 1:064x}"
        return bytes.fromhex(c.sign_with_sm3(msg, k))

    def verify(self, pub: bytes, msg: bytes, sig: bytes) -> bool:
        from gmssl import sm2 as gsm2

        if _signature_scalars(sig) is None:
            return False
        c = gsm2.CryptSM2(private_key="", public_key="")
        c.public_key = pub.hex()  # see sign(): never let gmssl strip a leading "04"
        try:
            return bool(c.verify_with_sm3(sig.hex(), msg))
        except Exception:
            return False


class TongsuoBackend:
    """SM2 through Tongsuo (C). EVP_DigestSign with an SM2 key applies the default user id."""

    name = "tongsuopy"

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric.utils import (
            decode_dss_signature,
            encode_dss_signature,
        )
        from tongsuopy.crypto import hashes
        from tongsuopy.crypto.asymciphers import ec

        self._ec = ec
        self._alg = ec.ECDSA(hashes.SM3())
        self._der_decode = decode_dss_signature
        self._der_encode = encode_dss_signature
        self._pub_cache: dict[bytes, object] = {}

    def generate(self) -> int:
        return self._ec.generate_private_key(self._ec.SM2()).private_numbers().private_value

    def _priv(self, d: int):
        return self._ec.derive_private_key(d, self._ec.SM2())

    def public_from_private(self, d: int) -> bytes:
        from tongsuopy.crypto import serialization

        raw = self._priv(d).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return raw[1:]

    def sign(self, d: int, pub: bytes, msg: bytes) -> bytes:
        der = self._priv(d).sign(msg, self._alg)
        r, s = self._der_decode(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def _pub(self, pub: bytes):
        key = self._pub_cache.get(pub)
        if key is None:
            key = self._ec.EllipticCurvePublicKey.from_encoded_point(self._ec.SM2(), b"\x04" + pub)
            if len(self._pub_cache) > 4096:
                self._pub_cache.clear()
            self._pub_cache[pub] = key
        return key

    def verify(self, pub: bytes, msg: bytes, sig: bytes) -> bool:
        rs = _signature_scalars(sig)
        if rs is None:
            return False
        r, s = rs
        try:
            self._pub(pub).verify(self._der_encode(r, s), msg, self._alg)
            return True
        except Exception:
            return False


def _load_default() -> Backend:
    try:
        return TongsuoBackend()
    except ImportError:  # pragma: no cover - only where tongsuopy is unavailable
        return GmsslBackend()


BACKEND: Backend = _load_default()


@dataclass(frozen=True)
class PublicKey:
    raw: bytes  # 64 bytes X||Y

    def __post_init__(self) -> None:
        _check_pub(self.raw)

    @classmethod
    def from_hex(cls, text: str) -> PublicKey:
        if not isinstance(text, str):
            raise SignatureError("public key must be a hex string")
        try:
            raw = bytes.fromhex(text)
        except ValueError as exc:
            raise SignatureError("public key is not hex") from exc
        if len(raw) == 65 and raw[0] == 4:
            raw = raw[1:]
        return cls(raw)

    def hex(self) -> str:
        return self.raw.hex()

    def verify(self, signature: bytes, message: bytes) -> bool:
        return BACKEND.verify(self.raw, message, signature)


class PrivateKey:
    __slots__ = ("_d", "public_key")

    def __init__(self, d: int) -> None:
        if not 0 < d < N - 1:
            raise SignatureError("SM2 private key out of range")
        self._d = d
        self.public_key = PublicKey(BACKEND.public_from_private(d))

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(BACKEND.generate())

    @classmethod
    def from_bytes(cls, raw: bytes) -> PrivateKey:
        if len(raw) != 32:
            raise SignatureError("SM2 private key must be 32 bytes")
        return cls(int.from_bytes(raw, "big"))

    def to_bytes(self) -> bytes:
        return self._d.to_bytes(32, "big")

    @property
    def secret(self) -> int:
        return self._d

    def sign(self, message: bytes) -> bytes:
        return BACKEND.sign(self._d, self.public_key.raw, message)

    def __repr__(self) -> str:  # never print the secret
        return f"PrivateKey(public={self.public_key.raw[:8].hex()}…)"
