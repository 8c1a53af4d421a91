"""Red team, unmetered work: what a relayer or contract submits is priced for the work it
causes, before that work is done (docs/sidechains.md: <= 0.1 us per gas)."""

from __future__ import annotations

import os

from chainnode import codec
from chainnode.anchor import lightclient as lc
from chainnode.anchor import proofs
from chainnode.exec import anchor
from chainnode.exec.state import BlockState, TxState
from chainnode.store.smt import KEY_BITS, PROOF_VERSION
from chainnode.vm.gas import GAS
from tests.unit.anchor.lc_util import EdgeChain
from tests.unit.anchor.two_chains import Clock, Net


def test_an_smt_proof_padded_with_empty_siblings_is_priced_per_sibling():
    # empty siblings travel as b"" (2 bytes each) but each still costs an SM3 to fold
    padded = codec.encode([PROOF_VERSION, [], [b""] * (KEY_BITS - 1) + [os.urandom(32)]])
    assert len(padded) < 600
    assert proofs.smt_proof_size(padded) == KEY_BITS
    assert proofs.smt_proof_size(codec.decode(padded)) == KEY_BITS
    assert proofs.proof_gas(proofs.smt_proof_size(padded), len(padded)) >= (
        KEY_BITS * proofs.PROOF_NODE_GAS)
    # what cannot be a proof is priced at its cap (it is refused when parsed)
    assert proofs.smt_proof_size(b"\xff" * 40) == KEY_BITS


def test_a_wide_window_is_paid_for_on_every_update(tmp_path):
    """The kept heights are one record rewritten whole per update: ~20 KB at the widest
    window (4,096), ~4 ms of encoding on the reference machine, under 30 k gas of flat and
    signature gas before; now charged as storage bytes read and written."""
    e = EdgeChain(chain_id="edge-w")
    e.grow(2, [0])
    client = e.client(1, window=lc.MAX_WINDOW)
    net = Net(tmp_path, "main", 1, 61_000, Clock())
    try:
        ts = TxState(BlockState(net.db))
        ts.set(anchor.ANCHOR, ["heights", "edge-w"], list(range(10**9, 10**9 + lc.MAX_WINDOW)))
        spent: list[int] = []
        anchor._anchor_height(ts, client, lc.ConsensusState.of(e.headers[2]), spent.append)
        size = len(codec.encode(ts.get(anchor.ANCHOR, ["heights", "edge-w"])))
        assert size > 20_000
        assert sum(spent) >= size * (GAS["storage_byte_read"] + GAS["storage_byte_write"])
    finally:
        net.close()
