"""TxState's encoded-key accessors must be get/set under codec.encode(key), nothing else."""

from __future__ import annotations

from chainnode import codec
from chainnode.exec.state import BlockState, TxOverlay, TxState


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


class _Counting:
    def __init__(self) -> None:
        self.reads = 0

    def state_get(self, contract: str, key: bytes) -> bytes | None:
        self.reads += 1
        return b"db" if key == b"k" else None


def test_tx_overlay_reads_its_writes_then_the_block_and_caches_below_only():
    db = _Counting()
    block = BlockState(db)
    block.merge({("c", b"b"): b"block"})
    ov = TxOverlay(block)
    assert ov.state_get("c", b"k") == b"db" and ov.state_get("c", b"k") == b"db"
    assert db.reads == 1  # the block's state cached it; the overlay keeps no copy
    assert ov.state_get("c", b"b") == b"block"
    ts = TxState(ov)
    ts.set_at("c", b"k", 5)
    ts.commit()
    assert ov.state_get("c", b"k") == codec.encode(5)
    assert block.state_get("c", b"k") == b"db"  # nothing reaches the block before merge
    block.merge(ov.writes)
    assert block.state_get("c", b"k") == codec.encode(5)
