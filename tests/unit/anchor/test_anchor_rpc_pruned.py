"""/anchor/proof/state on a pruning node: recent heights still prove, pruned ones answer 410
STATE_PRUNED (never a 500 from a half-pruned tree)."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

from test_anchor_rpc import _serve
from two_chains import ANCHOR, Clock, Net, ok

from chainnode import codec
from chainnode.store.db import state_key_hash
from chainnode.store.smt import SmtProof, verify_proof


def test_pruned_heights_answer_state_pruned_and_recent_ones_prove(tmp_path):
    net = Net(tmp_path, "main", 1, 23_000, Clock())
    net.db.keep_versions = 3  # as node.json state_keep_versions = 3
    pool = ThreadPoolExecutor(1)
    try:
        for _ in range(8):
            ok(net.send(net.admin, "sys.members", "register",
                        {"address": secrets.token_hex(20), "roles": ["member"]}))
        head = net.height
        assert net.db.oldest_state_height() >= head - 3
        key = codec.encode(["commit", "nowhere", 1])
        old, recent = _serve(net, pool, [
            ("/anchor/proof/state", {"contract": ANCHOR, "key_hex": key.hex(), "height": "1"}),
            ("/anchor/proof/state", {"contract": ANCHOR, "key_hex": key.hex(),
                                     "height": str(head - 3)})])
        assert old["status"] == 410 and old["error"]["code"] == "STATE_PRUNED"
        assert recent["status"] == 200 and not recent["exists"]
        proof = SmtProof.from_wire(codec.decode(bytes.fromhex(recent["proof_hex"])))
        root = net.db.block(head - 3).header.state_root
        assert verify_proof(root, state_key_hash(ANCHOR, key), None, proof)
    finally:
        pool.shutdown()
        net.close()
