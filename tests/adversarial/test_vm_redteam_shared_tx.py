"""Red team: a contract mutates its (nested) arguments; the Transaction object is shared.

A follower now executes the mempool's own Transaction objects (Block.decode reuses them by
exact bytes), and the leader builds from the same pool objects: one object may execute in
several validations (a proposal, its re-proposal in a later view, the commit). A contract
that mutates the maps and lists it was called with must mutate a copy: the tx keeps the args
its bytes and hash say, and every execution of it gives the same receipt and state root.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
from chain_redteam_util import benches, replay  # noqa: E402
from gov_util import CHAIN, GOVS  # noqa: E402

from chainnode import codec  # noqa: E402
from chainnode.core.block import Block  # noqa: E402
from chainnode.core.tx import Transaction, build_tx  # noqa: E402

SOURCE = '''
@export
def grab(box, xs):
    box["seen"] = len(xs)
    box["inner"]["k"] = box["inner"]["k"] + 1
    xs.append(7)
    storage.set("last", [box, xs])
    return [box, xs]
'''


def test_a_contract_mutating_its_args_leaves_the_shared_tx_intact(tmp_path):
    with benches(tmp_path, "leader", "follower") as (leader, follower):
        deploy = build_tx(GOVS[0], CHAIN, "deploy", "grabber", "deploy",
                          {"source": SOURCE, "init_args": {}}, expires_at=50,
                          gas_limit=50_000_000)
        assert leader.block(deploy).outcome.receipts[0].ok
        replay(follower, leader, 1)
        args = {"box": {"inner": {"k": 1}}, "xs": [1, 2]}
        tx = Transaction.decode(build_tx(GOVS[0], CHAIN, "call", "grabber", "grab", args,
                                         expires_at=50, gas_limit=5_000_000).encode())
        raw, body = tx.encode(), tx.body_bytes()
        first = leader.chain.build([tx], 0, 0)  # the leader executes the pool's object
        rc = first.outcome.receipts[0]
        assert rc.ok and rc.value == [{"inner": {"k": 2}, "seen": 2}, [1, 2, 7]]
        assert tx.args == {"box": {"inner": {"k": 1}}, "xs": [1, 2]}
        assert codec.encode(tx.to_wire()) == raw and codec.encode(tx.body()) == body
        # the follower decodes the proposal with the pool's object and executes it again,
        # twice (a proposal and its re-proposal): the same receipts and roots every time
        pool = {raw: tx}
        for _ in range(2):
            block = Block.decode(first.encoded(), lookup=pool.get)
            assert block.txs[0] is tx
            again = follower.chain.validate(block, lambda t: True, False)
            assert again.outcome.receipts == first.outcome.receipts
        assert tx.args == args and codec.encode(tx.to_wire()) == raw
