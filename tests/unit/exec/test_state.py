"""TxState's encoded-key accessors must be get/set under codec.encode(key), nothing else."""

from __future__ import annotations

from chainnode import codec
from chainnode.exec.state import BlockState, TxState


class _Empty:
    def state_get(self, contract: str, key: bytes) -> bytes | None:
        return None


def test_get_at_and_set_at_are_get_and_set_of_the_encoded_key():
    ts = TxState(BlockState(_Empty()))
    ts.set_at("c", codec.encode("a" * 40), {"roles": ["member"], "active": True})
    assert ts.get("c", "a" * 40) == {"active": True, "roles": ["member"]}
    ts.set("c", "b", [1, 2])
    assert ts.get_at("c", codec.encode("b")) == [1, 2]
    assert ts.get_at("c", codec.encode("z"), "dflt") == "dflt"
    assert set(ts.writes) == {("c", codec.encode("a" * 40)), ("c", codec.encode("b"))}
