"""Commit certificates: proof that 2f+1 validators committed a block, and BFT time.

A certificate is stored with its block so anyone holding the validator set of that height can
check it offline: sync, observers, side-chain anchoring and SDK proof verification all do.

Every COMMIT vote carries the signer's own wall-clock time (milliseconds), signed with the
vote. The next block's time is derived from those times (`bft_time`), so no single clock sets
chain time: see docs/consensus.md, "BFT time".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chainnode import codec

VOTE_KINDS = ("prepare", "commit")
MAX_TIME_MS = 2**63 - 1

CertVote = tuple[int, int, bytes]  # (validator index, vote time ms, signature)


def vote_payload(kind: str, chain_id: str, view: int, height: int, block_hash: bytes,
                 time_ms: int | None = None) -> bytes:
    """Bytes a validator signs for a PREPARE or COMMIT vote (before the domain prefix).

    The domain tag (`kind`) and chain id are added by chainnode.crypto.domain when signing, so
    this payload only carries what the vote is about. A COMMIT also signs the voter's clock
    reading `time_ms` (BFT time); a PREPARE carries none.
    """
    if kind not in VOTE_KINDS:
        raise ValueError(f"unknown vote kind {kind!r}")
    if kind == "commit":
        if type(time_ms) is not int or not 0 <= time_ms <= MAX_TIME_MS:
            raise ValueError("a commit vote needs a time_ms in [0, 2**63)")
        return codec.encode([view, height, block_hash, time_ms])
    if time_ms is not None:
        raise ValueError("a prepare vote carries no time")
    return codec.encode([view, height, block_hash])


def quorum(n: int) -> int:
    """2f+1 for n = 3f+1 (and the BFT-safe quorum for any n: more than two thirds)."""
    f = (n - 1) // 3
    return n - f


def median_time(times: Sequence[int]) -> int:
    """The lower median of the vote times (all validators weigh the same).

    With k >= 2f+1 votes of which at most f are faulty, at least f votes lie on each side of
    the lower median, so it lies between two honest votes: f liars can neither push it above
    the highest honest clock nor below the lowest.
    """
    if not times:
        raise ValueError("no vote times")
    s = sorted(times)
    return s[(len(s) - 1) // 2]


def bft_time(parent_time_ms: int, last_commit: CommitCertificate | None,
             genesis_time_ms: int) -> int:
    """The timestamp a block must carry, given its parent's time and the parent's certificate.

    Height 1 has no certificate before it: its time is genesis time + 1 ms. Every later block
    takes the median of the COMMIT times in the parent's certificate it carries, and at least
    parent + 1 ms, so chain time never goes back even if every clock does.
    """
    if last_commit is None:
        return genesis_time_ms + 1
    return max(median_time([t for _, t, _ in last_commit.signatures]), parent_time_ms + 1)


@dataclass(frozen=True)
class CommitCertificate:
    chain_id: str
    height: int
    view: int
    block_hash: bytes
    signatures: tuple[CertVote, ...]  # (validator index, time ms, signature), sorted by index

    def to_wire(self) -> list:
        return [self.chain_id, self.height, self.view, self.block_hash,
                [[i, t, s] for i, t, s in self.signatures]]

    @classmethod
    def from_wire(cls, w: list) -> CommitCertificate:
        if not isinstance(w, list) or len(w) != 5:
            raise ValueError("certificate must be a 5-element list")
        chain_id, height, view, block_hash, sigs = w
        if not (isinstance(chain_id, str) and type(height) is int and type(view) is int
                and isinstance(block_hash, bytes) and len(block_hash) == 32
                and height >= 0 and view >= 0 and isinstance(sigs, list)):
            raise ValueError("certificate fields have wrong types")
        votes = []
        for p in sigs:
            if not (isinstance(p, list) and len(p) == 3 and type(p[0]) is int
                    and type(p[1]) is int and 0 <= p[1] <= MAX_TIME_MS
                    and isinstance(p[2], bytes)):
                raise ValueError("certificate vote entry must be [index, time_ms, signature]")
            votes.append((p[0], p[1], p[2]))
        return cls(chain_id, height, view, block_hash, tuple(votes))

    def encode(self) -> bytes:
        return codec.encode(self.to_wire())

    @classmethod
    def decode(cls, data: bytes) -> CommitCertificate:
        return cls.from_wire(codec.decode(data))

    @property
    def signers(self) -> tuple[int, ...]:
        return tuple(i for i, _, _ in self.signatures)

    def check(self, n_validators: int,
              verify: Callable[[int, bytes, bytes], bool],
              *, chain_id: str | None = None, height: int | None = None,
              block_hash: bytes | None = None) -> None:
        """Raise ValueError unless this certificate carries a quorum of valid COMMIT votes.

        `verify(index, payload, signature)` checks one validator's domain-separated signature
        over `payload` (see chainnode.crypto.domain); indexes must be distinct and in range.
        Each vote's time is part of what its validator signed.
        """
        if chain_id is not None and self.chain_id != chain_id:
            raise ValueError("certificate is for another chain")
        if height is not None and self.height != height:
            raise ValueError("certificate is for another height")
        if block_hash is not None and self.block_hash != block_hash:
            raise ValueError("certificate is for another block")
        indexes = list(self.signers)
        if indexes != sorted(set(indexes)):
            raise ValueError("certificate signer indexes not distinct and sorted")
        if any(i < 0 or i >= n_validators for i in indexes):
            raise ValueError("certificate signer index out of range")
        need = quorum(n_validators)
        if len(indexes) < need:
            raise ValueError(f"certificate has {len(indexes)} signatures, needs {need}")
        for i, t, sig in self.signatures:
            if type(t) is not int or not 0 <= t <= MAX_TIME_MS:
                raise ValueError(f"certificate vote time of validator {i} is malformed")
            payload = vote_payload("commit", self.chain_id, self.view, self.height,
                                   self.block_hash, t)
            if not verify(i, payload, sig):
                raise ValueError(f"certificate signature of validator {i} does not verify")


def sorted_signatures(votes: Sequence[CertVote]) -> tuple[CertVote, ...]:
    return tuple(sorted(votes, key=lambda p: p[0]))
