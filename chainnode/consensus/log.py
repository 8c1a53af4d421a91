"""The message log: votes collected toward quorums, and proposals that arrived early.

Both structures are bounded by construction. The core only hands them messages whose view and
height are inside its windows, votes are stored at most once per (sender, kind, view, height),
and early proposals are capped per sender in count and bytes, so a flood from one peer can
cost at most that peer's share.
"""

from __future__ import annotations

from collections.abc import Callable

from chainnode.consensus.messages import Commit, Prepare, PrePrepare

Vote = Prepare | Commit
VoteKey = tuple[str, int, int, bytes]  # (kind, view, height, block hash)


class VoteLog:
    """PREPARE/COMMIT votes keyed by the exact (kind, view, height, block hash).

    A quorum is a count of DISTINCT validator indexes in one bucket. A sender's first vote for
    a (kind, view, height) is the one kept: a second, different vote from the same sender (an
    equivocation) is refused, so it can never count toward two hashes on this node.
    """

    def __init__(self) -> None:
        self._voted: set[tuple[str, int, int, int]] = set()  # (kind, view, height, sender)
        self._buckets: dict[VoteKey, dict[int, Vote]] = {}

    def __len__(self) -> int:
        return len(self._voted)

    def add(self, vote: Vote) -> bool:
        """Record `vote`; False if it is a duplicate or conflicts with the sender's first."""
        slot = (vote.KIND, vote.view, vote.height, vote.sender)
        if slot in self._voted:
            return False
        self._voted.add(slot)
        key = (vote.KIND, vote.view, vote.height, vote.block_hash)
        self._buckets.setdefault(key, {})[vote.sender] = vote
        return True

    def count(self, kind: str, view: int, height: int, block_hash: bytes) -> int:
        return len(self._buckets.get((kind, view, height, block_hash), ()))

    def signatures(self, kind: str, view: int, height: int,
                   block_hash: bytes) -> tuple[tuple[int, bytes], ...]:
        """(index, signature) pairs for one bucket, sorted by index as certificates want."""
        return tuple((v.sender, v.signature) for v in self.votes(kind, view, height, block_hash))

    def votes(self, kind: str, view: int, height: int, block_hash: bytes) -> list[Vote]:
        """The votes of one bucket, sorted by sender."""
        bucket = self._buckets.get((kind, view, height, block_hash), {})
        return [bucket[i] for i in sorted(bucket)]

    def quorums(self, kind: str, height: int, need: int) -> list[tuple[int, bytes]]:
        """(view, hash) of every bucket at `height` holding `need` or more votes, by view."""
        return sorted((v, h) for (k, v, ht, h), votes in self._buckets.items()
                      if k == kind and ht == height and len(votes) >= need)

    def keep_senders(self, senders: set[int]) -> None:
        """Forget the votes of every other sender (a validator-set change: those indexes
        now name other members, or nobody)."""
        self._voted = {s for s in self._voted if s[3] in senders}
        self._buckets = {k: {i: v for i, v in b.items() if i in senders}
                         for k, b in self._buckets.items()}

    def prune(self, min_height: int, min_view: int) -> None:
        """Forget votes below min_height, and votes below min_view except COMMITs.

        COMMITs from older views still make a valid certificate, so they are kept until
        their height is done.
        """
        def keep(kind: str, view: int, height: int) -> bool:
            return height >= min_height and (view >= min_view or kind == Commit.KIND)

        self._voted = {s for s in self._voted if keep(s[0], s[1], s[2])}
        self._buckets = {k: v for k, v in self._buckets.items() if keep(k[0], k[1], k[2])}


def _cost(pp: PrePrepare) -> int:
    return len(pp.block) + 256


class FutureBuffer:
    """PRE-PREPAREs for a view or height this node has not reached yet.

    Held per sender, at most `per_sender` messages and `bytes_per_sender` bytes; when a
    sender's share is full its newest message is refused. NEW-VIEWs are never buffered: a
    valid one for a higher view is acted on at once, whatever view it names.
    """

    def __init__(self, per_sender: int, bytes_per_sender: int) -> None:
        self.per_sender = per_sender
        self.bytes_per_sender = bytes_per_sender
        self._held: dict[int, list[PrePrepare]] = {}
        self._bytes: dict[int, int] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._held.values())

    def held_bytes(self) -> int:
        return sum(self._bytes.values())

    def add(self, pp: PrePrepare) -> bool:
        held = self._held.setdefault(pp.sender, [])
        used = self._bytes.get(pp.sender, 0)
        if pp in held or len(held) >= self.per_sender or \
                used + _cost(pp) > self.bytes_per_sender:
            return False
        held.append(pp)
        self._bytes[pp.sender] = used + _cost(pp)
        return True

    def select(self, state_of: Callable[[PrePrepare], str]) -> list[PrePrepare]:
        """Remove and return, in sender then arrival order, the messages for which
        `state_of(msg)` is "ready"; drop those that are "stale"; keep the "future" ones."""
        ready: list[PrePrepare] = []
        for sender in sorted(self._held):
            keep = []
            for pp in self._held[sender]:
                s = state_of(pp)
                if s == "ready":
                    ready.append(pp)
                elif s == "future":
                    keep.append(pp)
            self._held[sender] = keep
            self._bytes[sender] = sum(_cost(pp) for pp in keep)
        return ready
