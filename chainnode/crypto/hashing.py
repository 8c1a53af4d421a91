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


if HAVE_HASHLIB_SM3:
    # copying a ready hasher skips hashlib.new's Python wrapper and OpenSSL's digest lookup
    # per call (about 3x faster for the short preimages of SMT nodes and state keys)
    _SM3_PROTO = hashlib.new("sm3")

    def sm3(data: bytes) -> bytes:
        h = _SM3_PROTO.copy()
        h.update(data)
        return h.digest()

else:  # pragma: no cover - exercised only where OpenSSL lacks SM3
    sm3 = sm3_pure


def sm3_hex(data: bytes) -> str:
    return sm3(data).hex()
