"""Synthetic certified headers of an "edge" chain, signed with real SM2 keys.

A header chain whose validator set can change at any height (as a governance vote on the edge
chain would), for the pure light-client tests; the in-process two-chain tests use real chains.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chainnode import codec
from chainnode.anchor import lightclient as lc
from chainnode.core.block import BlockHeader
from chainnode.core.certificate import vote_payload
from chainnode.crypto import domain
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import PrivateKey

EDGE = "edge-1"
T0 = 1_800_000_000_000
STEP = 1_000
_KEYS: dict[int, PrivateKey] = {}


def key(i: int) -> PrivateKey:
    if i not in _KEYS:
        _KEYS[i] = PrivateKey(7_000 + i)
    return _KEYS[i]


def vset(ids: list[int]) -> list[list]:
    return [[f"v{i}", key(i).public_key.raw] for i in ids]


def vhash(ids: list[int]) -> bytes:
    return sm3(codec.encode(vset(ids)))


def sign_cert(header: BlockHeader, ids: list[int], signers: list[int] | None = None, *,
              chain: str | None = None, dom: str = "commit", view: int = 0) -> list:
    """Certificate wire: votes of set positions `signers` (default all) of the set `ids`."""
    chain = chain or header.chain_id
    votes = []
    for pos in signers if signers is not None else range(len(ids)):
        t = header.timestamp_ms + 500
        payload = vote_payload("commit", header.chain_id, view, header.height, header.hash(), t)
        votes.append([pos, t, domain.sign(key(ids[pos]), dom, chain, payload)])
    return [header.chain_id, header.height, view, header.hash(), votes]


@dataclass
class EdgeChain:
    """Headers 1..n; `sets[h]` is the validator ids signing height h."""

    chain_id: str = EDGE
    genesis_hash: bytes = sm3(b"edge genesis")
    headers: dict[int, BlockHeader] = field(default_factory=dict)
    sets: dict[int, list[int]] = field(default_factory=dict)

    def grow(self, n: int, ids: list[int], change_to: dict[int, list[int]] | None = None,
             fork: bytes = b"") -> None:
        """Append n headers; change_to[h] = the set that signs from h+1 (announced at h)."""
        change_to = change_to or {}
        for _ in range(n):
            h = len(self.headers) + 1
            prev = self.headers[h - 1].hash() if h > 1 else self.genesis_hash
            signing = self.sets.get(h, ids)
            nxt = change_to.get(h, signing)
            self.sets[h] = signing
            self.sets[h + 1] = nxt
            root = sm3(b"state" + h.to_bytes(8, "big") + fork)
            self.headers[h] = BlockHeader(self.chain_id, h, prev, T0 + h * STEP, 0, 0,
                                          sm3(b"tx%d" % h), sm3(b"rc%d" % h), root,
                                          vhash(signing), vhash(nxt))

    def wire(self, h: int) -> list:
        return self.headers[h].to_wire()

    def cert(self, h: int, signers: list[int] | None = None, **kw) -> list:
        return sign_cert(self.headers[h], self.sets[h], signers, **kw)

    def next_set(self, h: int) -> list[list] | None:
        """What a relayer submits with header h: the next set if it changes after h."""
        if self.sets[h + 1] != self.sets[h]:
            return vset(self.sets[h + 1])
        return None

    def create_payload(self, at: int = 1, **params) -> dict:
        """The governance `create-client` payload trusting height `at` (30 s drift, 600 s
        trusting period unless `params` say otherwise)."""
        return {"chain_id": self.chain_id, "genesis_hash": self.genesis_hash.hex(),
                "header_hex": codec.encode(self.wire(at)).hex(),
                "validators": [[n, k.hex()] for n, k in vset(self.sets[at + 1])],
                "params": {"trusting_period_ms": 600_000, "max_clock_drift_ms": 30_000,
                           **params}}

    def client(self, at: int = 1, **params) -> lc.ClientState:
        p = lc.ClientParams.from_wire({"trusting_period_ms": 3_600_000,
                                       "max_clock_drift_ms": 10_000, **params})
        return lc.create(self.chain_id, self.genesis_hash, self.wire(at),
                         vset(self.sets[at + 1]), p)


def now_for(h: int) -> int:
    return T0 + h * STEP + 200
