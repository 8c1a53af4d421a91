"""The sender facts every transaction needs, remembered across transactions and blocks.

Each executed transaction derives its sender's address from the public key (an SM3) and
decodes the sender's member record; a block of N transactions from one admin does both N
times for the same bytes. Both are pure functions of their input bytes, so entries are keyed
on exactly those bytes and can never be stale: a changed record has other bytes. Bounded.
"""

from __future__ import annotations

from chainnode import codec
from chainnode.crypto.address import address_of
from chainnode.exec.state import TxState
from chainnode.exec.system import MEMBERS
from chainnode.store.db import Bounded

CACHE_MAX = 4096  # distinct senders (or record versions) remembered: a few hundred KB


class SenderCache:
    __slots__ = ("_addresses", "_keys", "_records")

    def __init__(self, limit: int = CACHE_MAX) -> None:
        self._addresses = Bounded(limit)  # public key -> address
        self._keys = Bounded(limit)  # address -> encoded state key
        self._records = Bounded(limit)  # encoded record -> decoded record (never mutated)

    def address(self, public_key: bytes) -> str:
        a = self._addresses.get(public_key)
        if a is None:
            a = address_of(public_key)
            self._addresses.put(public_key, a)
        return a

    def member(self, state: TxState, address: str) -> dict | None:
        """system.member(state, address), decoding each distinct record once. The record is
        shared: callers only read it (system.members_call's sender_rec)."""
        key = self._keys.get(address)
        if key is None:
            key = codec.encode(address)
            self._keys.put(address, key)
        raw = state.get_raw(MEMBERS, key)
        if raw is None:
            return None
        rec = self._records.get(raw)
        if rec is None:
            rec = codec.decode(raw)
            self._records.put(raw, rec)
        if isinstance(rec, dict) and rec.get("active"):
            return rec
        return None
