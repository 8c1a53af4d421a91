"""Red team, unmetered work: what a relayer or contract submits is priced for the work it
causes, before that work is done (docs/sidechains.md: <= 0.1 us per gas)."""

from __future__ import annotations

import os

from chainnode import codec
from chainnode.anchor import proofs
from chainnode.store.smt import KEY_BITS, PROOF_VERSION


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
