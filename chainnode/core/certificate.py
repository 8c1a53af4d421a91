"""Commit certificates: proof that 2f+1 validators committed a block.

A certificate is stored with its block so anyone holding the validator set of that height can
check it offline: sync, observers, side-chain anchoring and SDK proof verification all do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chainnode import codec

VOTE_KINDS = ("prepare", "commit")


def vote_payload(kind: str, chain_id: str, view: int, height: int, block_hash: bytes) -> bytes:
    """Bytes a validator signs for a PREPARE or COMMIT vote (before the domain prefix).

    The domain tag (`kind`) and chain id are added by chainnode.crypto.domain when signing, so
    this payload only carries what the vote is about.
    """
    if kind not in VOTE_KINDS:
        raise ValueError(f"unknown vote kind {kind!r}")
    return codec.encode([view, height, block_hash])


def quorum(n: int) -> int:
    """2f+1 for n = 3f+1 (and the BFT-safe quorum for any n: more than two thirds)."""
    f = (n - 1) // 3
    return n - f


@dataclass(frozen=True)
class CommitCertificate:
    chain_id: str
    height: int
    view: int
    block_hash: bytes
    signatures: tuple[tuple[int, bytes], ...]  # (validator index, signature), sorted by index

    def to_wire(self) -> list:
        return [self.chain_id, self.height, self.view, self.block_hash,
                [[i, s] for i, s in self.signatures]]

    @classmethod
    def from_wire(cls, w: list) -> CommitCertificate:
        if not isinstance(w, list) or len(w) != 5:
            raise ValueError("certificate must be a 5-element list")
        chain_id, height, view, block_hash, sigs = w
        if not (isinstance(chain_id, str) and type(height) is int and type(view) is int
                and isinstance(block_hash, bytes) and len(block_hash) == 32
                and height >= 0 and view >= 0 and isinstance(sigs, list)):
            raise ValueError("certificate fields have wrong types")
        pairs = []
        for p in sigs:
            if not (isinstance(p, list) and len(p) == 2 and type(p[0]) is int
                    and isinstance(p[1], bytes)):
                raise ValueError("certificate signature entry malformed")
            pairs.append((p[0], p[1]))
        return cls(chain_id, height, view, block_hash, tuple(pairs))

    def encode(self) -> bytes:
        return codec.encode(self.to_wire())

    @classmethod
    def decode(cls, data: bytes) -> CommitCertificate:
        return cls.from_wire(codec.decode(data))

    def check(self, n_validators: int,
              verify: Callable[[int, bytes, bytes], bool],
              *, chain_id: str | None = None, height: int | None = None,
              block_hash: bytes | None = None) -> None:
        """Raise ValueError unless this certificate carries a quorum of valid COMMIT votes.

        `verify(index, payload, signature)` checks one validator's domain-separated signature
        over `payload` (see chainnode.crypto.domain); indexes must be distinct and in range.
        """
        if chain_id is not None and self.chain_id != chain_id:
            raise ValueError("certificate is for another chain")
        if height is not None and self.height != height:
            raise ValueError("certificate is for another height")
        if block_hash is not None and self.block_hash != block_hash:
            raise ValueError("certificate is for another block")
        indexes = [i for i, _ in self.signatures]
        if indexes != sorted(set(indexes)):
            raise ValueError("certificate signer indexes not distinct and sorted")
        if any(i < 0 or i >= n_validators for i in indexes):
            raise ValueError("certificate signer index out of range")
        need = quorum(n_validators)
        if len(indexes) < need:
            raise ValueError(f"certificate has {len(indexes)} signatures, needs {need}")
        payload = vote_payload("commit", self.chain_id, self.view, self.height, self.block_hash)
        for i, sig in self.signatures:
            if not verify(i, payload, sig):
                raise ValueError(f"certificate signature of validator {i} does not verify")


def sorted_signatures(pairs: Sequence[tuple[int, bytes]]) -> tuple[tuple[int, bytes], ...]:
    return tuple(sorted(pairs, key=lambda p: p[0]))
