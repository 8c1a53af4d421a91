"""Domain-separated signing: every signed payload names its purpose and chain.

A signature made for one purpose (a transaction, a PBFT vote, a peer handshake) can never be
replayed as another, or on another chain, because the signed bytes begin with the domain tag
and chain id: b"chainnode/" + domain + b"\\x00" + chain_id + b"\\x00" + payload.
"""

from __future__ import annotations

from chainnode.crypto.sm2 import PrivateKey, PublicKey

DOMAINS = frozenset({
    "tx", "pre-prepare", "prepare", "commit", "view-change", "new-view", "handshake",
    "query", "relay",
})


def signing_bytes(domain: str, chain_id: str, payload: bytes) -> bytes:
    if domain not in DOMAINS:
        raise ValueError(f"unknown signing domain {domain!r}")
    if "\x00" in chain_id:
        raise ValueError("chain id may not contain NUL")
    return b"chainnode/" + domain.encode() + b"\x00" + chain_id.encode() + b"\x00" + payload


def sign(key: PrivateKey, domain: str, chain_id: str, payload: bytes) -> bytes:
    return key.sign(signing_bytes(domain, chain_id, payload))


def verify(pub: PublicKey, domain: str, chain_id: str, payload: bytes, sig: bytes) -> bool:
    return pub.verify(sig, signing_bytes(domain, chain_id, payload))
