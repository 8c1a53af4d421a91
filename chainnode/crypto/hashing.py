"""SM3 (GB/T 32905) hashing.

OpenSSL 3 ships SM3, so `hashlib.new("sm3")` is the fast path; gmssl's pure-Python SM3 is
the fallback for builds without it. Both give identical digests (tested).
"""

from __future__ import annotations

import hashlib


def _probe_hashlib() -> bool:
    try:
        return hashlib.new("sm3", b"abc").hexdigest().startswith("66c7f0f4")
    except (ValueError, TypeError):
        return False


HAVE_HASHLIB_SM3 = _probe_hashlib()


def sm3_pure(data: bytes) -> bytes:
    """Reference SM3 from gmssl (slow; used as fallback and cross-check)."""
    from gmssl import sm3 as gsm3

    return bytes.fromhex(gsm3.sm3_hash(list(data)))


class PureSM3Hasher:
    """hashlib's hasher interface (update, digest) over sm3_pure: sm3_hasher without
    OpenSSL's SM3."""

    def __init__(self) -> None:
        self._data = b""

    def update(self, data: bytes) -> None:
        self._data += data

    def digest(self) -> bytes:
        return sm3_pure(self._data)


if HAVE_HASHLIB_SM3:
    # copying a ready hasher skips hashlib.new's Python wrapper and OpenSSL's digest lookup
    # per call (about 3x faster for the short preimages of SMT nodes and state keys)
    _SM3_PROTO = hashlib.new("sm3")

    def sm3(data: bytes) -> bytes:
        h = _SM3_PROTO.copy()
        h.update(data)
        return h.digest()

    # a fresh hasher (update, digest): loops that hash per item call it inline, one Python
    # call fewer per digest than sm3() (Merkle levels, SMT nodes)
    sm3_hasher = _SM3_PROTO.copy

else:  # pragma: no cover - exercised only where OpenSSL lacks SM3
    sm3 = sm3_pure
    sm3_hasher = PureSM3Hasher


def sm3_hex(data: bytes) -> str:
    return sm3(data).hex()
