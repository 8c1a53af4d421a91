"""Account addresses: the first 20 bytes of SM3 over the 64-byte public key, shown as hex."""

from __future__ import annotations

import re

from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import PublicKey

ADDRESS_LEN = 20
_HEX40 = re.compile(f"[0-9a-f]{{{2 * ADDRESS_LEN}}}")  # one C pass, not a generator per char


# raw key -> address: admission derives the sender's address for every transaction (the
# membership check), from the few keys a chain's senders use. Exact `bytes` keys only (a
# bytearray could change after the fact); a full cache is emptied, so it stays bounded.
MAX_CACHED_ADDRESSES = 4096
_addresses: dict[bytes, str] = {}


def address_of(pub: PublicKey | bytes) -> str:
    raw = pub.raw if isinstance(pub, PublicKey) else pub
    if type(raw) is not bytes:
        return sm3(raw)[:ADDRESS_LEN].hex()
    addr = _addresses.get(raw)
    if addr is None:
        addr = sm3(raw)[:ADDRESS_LEN].hex()
        if len(_addresses) >= MAX_CACHED_ADDRESSES:
            _addresses.clear()
        _addresses[raw] = addr
    return addr


def is_address(text: object) -> bool:
    if not isinstance(text, str) or len(text) != 2 * ADDRESS_LEN:
        return False
    return _HEX40.fullmatch(text) is not None
