"""Account addresses: the first 20 bytes of SM3 over the 64-byte public key, shown as hex."""

from __future__ import annotations

from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import PublicKey

ADDRESS_LEN = 20


def address_of(pub: PublicKey | bytes) -> str:
    raw = pub.raw if isinstance(pub, PublicKey) else pub
    return sm3(raw)[:ADDRESS_LEN].hex()


def is_address(text: object) -> bool:
    if not isinstance(text, str) or len(text) != 2 * ADDRESS_LEN:
        return False
    return all(c in "0123456789abcdef" for c in text)
