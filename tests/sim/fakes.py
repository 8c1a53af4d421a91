"""Fake deterministic signatures and a toy block format for the simulator.

The signatures are keyed SM3 MACs: only the holder of validator i's secret can make one
(so a faulty simulated node cannot forge an honest vote), and the verifier has the same
signature as the one the real node injects with SM2: verify(index, domain, payload, sig).
"""

from __future__ import annotations

from chainnode import codec
from chainnode.crypto.hashing import sm3


class FakeKeys:
    def __init__(self, n: int, seed: int) -> None:
        self.secrets = [sm3(codec.encode(["sim-key", seed, i])) for i in range(n)]

    def signer(self, index: int):
        secret = self.secrets[index]

        def sign(domain: str, payload: bytes) -> bytes:
            return sm3(secret + domain.encode() + b"\x00" + payload)

        return sign

    def verify(self, index: int, domain: str, payload: bytes, signature: bytes) -> bool:
        if not 0 <= index < len(self.secrets):
            return False
        return signature == sm3(self.secrets[index] + domain.encode() + b"\x00" + payload)

    def verify_commit(self, index: int, payload: bytes, signature: bytes) -> bool:
        """The 3-argument form CommitCertificate.check takes (domain fixed to commit)."""
        return self.verify(index, "commit", payload, signature)


GENESIS_HASH = sm3(b"sim-genesis")


def make_block(height: int, prev_hash: bytes, txs: list[bytes], tag: str = "") -> bytes:
    """A toy block: (height, prev_hash, transactions, proposer tag)."""
    return codec.encode([height, prev_hash, sorted(txs), tag])


def block_hash(block: bytes) -> bytes:
    return sm3(block)


def parse_block(block: bytes) -> tuple[int, bytes, list[bytes], str]:
    h, prev, txs, tag = codec.decode(block)
    return h, prev, txs, tag
