"""SenderCache: the sender's address and member record, remembered across transactions, must
answer exactly what address_of and system.member answer on the same state."""

from __future__ import annotations

from chainnode import codec
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.exec import system
from chainnode.exec.senders import SenderCache
from chainnode.exec.state import BlockState, TxState


class _Base:
    def __init__(self, values: dict) -> None:
        self.values = values

    def state_get(self, contract: str, key: bytes) -> bytes | None:
        return self.values.get((contract, key))


def _state(records: dict[str, object]) -> TxState:
    return TxState(BlockState(_Base({(system.MEMBERS, codec.encode(a)): codec.encode(r)
                                     for a, r in records.items()})))


def test_address_is_address_of_for_every_key():
    cache = SenderCache(limit=4)
    keys = [PrivateKey(d).public_key.raw for d in range(1, 12)]
    for _ in range(2):  # the second round hits (and evicts: more keys than the limit)
        for k in keys:
            assert cache.address(k) == address_of(k)


def test_member_agrees_with_system_member():
    a, b, c, d = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)
    ts = _state({a: {"active": True, "roles": ["admin"]}, b: {"active": False, "roles": []},
                 c: ["not", "a", "dict"]})
    cache = SenderCache()
    for _ in range(2):
        for addr in (a, b, c, d):
            assert cache.member(ts, addr) == system.member(ts, addr)
    assert cache.member(ts, a) == {"active": True, "roles": ["admin"]}
    assert cache.member(ts, b) is None and cache.member(ts, d) is None


def test_member_sees_a_changed_record_at_once():
    """Keyed on the record's bytes: a record revoked in this very state is not served from a
    decode of the older bytes."""
    a = "a" * 40
    ts = _state({a: {"active": True, "roles": ["admin"]}})
    cache = SenderCache()
    assert cache.member(ts, a) is not None
    ts.set(system.MEMBERS, a, {"active": False, "roles": ["admin"]})
    assert cache.member(ts, a) is None
    ts.set(system.MEMBERS, a, {"active": True, "roles": ["member"]})
    assert cache.member(ts, a) == {"active": True, "roles": ["member"]}
