"""Acceptance: kill -9 of the node while transactions are in flight loses nothing that was
acknowledged, leaves a LevelDB whose state root matches its stored values, and the node picks
up where it stopped (including replay protection for what committed before the crash)."""

from __future__ import annotations

import random
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

from integration_harness import wait_until

from chainnode.client import RpcError
from chainnode.core.certificate import CommitCertificate
from chainnode.crypto import domain
from chainnode.crypto.sm2 import PublicKey
from chainnode.store.db import ChainDB

N_TXS = 2000
WORKERS = 32


def _txs(client, n: int, height: int):
    return [client.build("system", "sys.members", "register",
                         {"address": secrets.token_hex(20), "roles": ["member"], "name": ""},
                         height=height, expires_in=990, gas_limit=100_000) for _ in range(n)]


def _load_and_kill(net, txs, kill_after: int) -> tuple[dict[str, int], int]:
    """Submit `txs` from WORKERS threads with ?wait=commit; SIGKILL the node once `kill_after`
    commits were acknowledged. Returns ({tx hash: acknowledged height}, failed requests)."""
    client = net.client()
    acked: dict[str, int] = {}
    lock = threading.Lock()
    killed = threading.Event()
    errors = 0

    def send(tx) -> None:
        nonlocal errors
        if killed.is_set():
            return
        try:
            res = client.submit(tx, wait=True, timeout=30)
        except (OSError, RpcError):  # connection reset/refused by the dying node
            with lock:
                errors += 1
            return
        assert res["status"] == "committed" and res["receipt"]["status"] == "ok", res
        with lock:
            acked[res["hash"]] = res["height"]

    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(send, tx) for tx in txs]
        try:
            wait_until(lambda: len(acked) >= kill_after, 90,
                       f"{kill_after} acknowledged commits")
        finally:
            net.node.kill9()
            killed.set()
        for f in futures:
            f.result(timeout=60)
    return dict(acked), errors


def _check_store(path, genesis, acked: dict[str, int]):
    """Open the LevelDB of a stopped node: root, blocks, certificates and tx index agree."""
    db = ChainDB(path)
    try:
        head = db.head()
        assert head is not None
        assert db.recompute_state_root() == head.state_root
        vk = PublicKey(genesis.validators[0].public_key)
        prev = genesis.hash()
        seen: set[bytes] = set()
        for h in range(1, head.height + 1):
            block = db.block(h)
            assert block is not None, f"block {h} missing below head {head.height}"
            assert block.header.prev_hash == prev
            cert: CommitCertificate = db.certificate(h)
            cert.check(1, lambda i, p, s: domain.verify(vk, "commit", genesis.chain_id, p, s),
                       chain_id=genesis.chain_id, height=h, block_hash=block.hash)
            for i, tx in enumerate(block.txs):
                assert tx.hash not in seen, "a transaction committed twice"
                seen.add(tx.hash)
                assert db.tx_location(tx.hash) == (h, i)
                assert db.receipt(tx.hash).ok
            prev = block.hash
        assert head.block_hash == prev
        assert db.block(head.height + 1) is None and db.certificate(head.height + 1) is None
        for tx_hash, height in acked.items():
            assert db.tx_location(bytes.fromhex(tx_hash)) is not None, \
                f"acknowledged tx {tx_hash[:16]} lost"
            assert db.tx_location(bytes.fromhex(tx_hash))[0] == height
        return head, seen
    finally:
        db.close()


def _assert_extends(client, head) -> None:
    """The running node's chain contains the crash image's head block unchanged."""
    if head.height == 0:
        return
    b = client.block(head.height)
    assert b["hash"] == head.block_hash.hex()
    assert b["header"]["state_root"] == head.state_root.hex()


def _txs_in_blocks(client, lo: int, hi: int) -> set[str]:
    out: set[str] = set()
    for h in range(lo, hi + 1):
        out.update(client.block(h)["tx_hashes"])
    return out


def test_kill9_with_2000_txs_in_flight_loses_no_acknowledged_commit(single_node):
    net = single_node
    client = net.client()
    txs = _txs(client, N_TXS, client.height())

    acked, errors = _load_and_kill(net, txs, kill_after=400)
    assert not net.node.running()
    assert 400 <= len(acked) < N_TXS, "the kill did not land mid-way"
    assert errors > 0 or len(acked) < N_TXS

    # the crash image: consistent, and every acknowledged tx is in it
    crash_head, in_chain = _check_store(net.db_path, net.genesis, acked)
    assert crash_head.height >= max(acked.values())
    assert {bytes.fromhex(h) for h in acked} <= in_chain

    # restart on top of the crash head (a block the consensus WAL held as prepared at the kill
    # may commit right after restart), every acknowledged commit is served by GET /tx
    net.node.start()
    st = net.node.wait_ready()
    assert st["height"] >= crash_head.height
    assert st["mempool"] == 0
    _assert_extends(client, crash_head)

    def lookup(h):
        return h, client.tx(h)

    with ThreadPoolExecutor(16) as pool:
        for h, doc in pool.map(lookup, list(acked)):
            assert doc["status"] == "committed" and doc["height"] == acked[h]
            assert doc["receipt"]["status"] == "ok"

    # everything that was not acknowledged is sent again: what committed before the crash is a
    # replay (never committed twice), the rest commits now
    pending = [tx for tx in txs if tx.hash.hex() not in acked]

    def resend(tx):
        try:
            res = client.submit(tx, wait=True, timeout=30)
            return "committed" if res["receipt"]["status"] == "ok" else "failed"
        except RpcError as exc:
            return exc.code

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(resend, pending))
    replays = [tx for tx, o in zip(pending, outcomes, strict=True) if o == "TX_REPLAY"]
    print(f"acked {len(acked)}, in chain at crash {len(in_chain)}, replays {len(replays)}, "
          f"errors {errors}, crash height {crash_head.height}")
    assert set(outcomes) <= {"committed", "TX_REPLAY"}, set(outcomes)
    # committed before the crash but never acknowledged: now refused as replays
    assert in_chain - {bytes.fromhex(h) for h in acked} <= {tx.hash for tx in replays}
    # a block the consensus WAL held as prepared at the kill may commit right after restart;
    # its txs are replays too, but only because they are in the chain (exactly once)
    newly = outcomes.count("committed")
    assert newly + len(replays) == len(pending)
    with ThreadPoolExecutor(16) as pool:
        docs = list(pool.map(lambda tx: client.tx(tx.hash.hex()), txs))
    assert all(d["status"] == "committed" and d["receipt"]["status"] == "ok" for d in docs)
    locations = {(d["height"], d["index"]) for d in docs}
    assert len(locations) == N_TXS  # no tx was committed twice

    # the node continues: new transactions commit after the restart
    res = client.register(secrets.token_hex(20), ["member"])
    assert res["receipt"]["status"] == "ok" and res["height"] > crash_head.height
    m = net.metrics()
    final_height = client.height()
    assert m["chainnode_height"] == final_height
    since_restart = _txs_in_blocks(client, crash_head.height + 1, final_height)
    assert m["chainnode_txs_committed_total"] == len(since_restart)  # counted since this start
    # what committed after the restart is the resent txs (or a WAL-recovered block of them) and
    # the new registration: nothing acknowledged before the crash committed again
    assert since_restart - {tx.hash.hex() for tx in pending} == {res["hash"]}

    # stop cleanly and check the store again: all 2000 are in, exactly once
    assert net.node.stop() == 0
    head, in_chain = _check_store(net.db_path, net.genesis, acked)
    assert head.height == final_height
    assert {tx.hash for tx in txs} <= in_chain
    assert len(in_chain) == N_TXS + 1


def test_repeated_kill9_at_random_moments_keeps_the_store_consistent(single_node):
    """Three crashes at random points of a load; after each one the store is consistent, the
    acknowledged txs are there, and the node restarts on that head and commits again."""
    net = single_node
    rng = random.Random(secrets.randbits(32))
    all_acked: dict[str, int] = {}
    for round_no in range(3):
        client = net.client()
        txs = _txs(client, 300, client.height())
        acked, _ = _load_and_kill(net, txs, kill_after=rng.randrange(10, 150))
        all_acked.update(acked)
        head, _ = _check_store(net.db_path, net.genesis, all_acked)
        net.node.start()
        st = net.node.wait_ready()
        assert st["height"] >= head.height, f"round {round_no}"
        _assert_extends(client, head)
        res = net.client().register(secrets.token_hex(20), ["member"])
        assert res["receipt"]["status"] == "ok" and res["height"] > head.height
        # blocks between the crash head and the new tx can only be a WAL-recovered block of
        # this round's unacknowledged txs
        recovered = _txs_in_blocks(client, head.height + 1, res["height"] - 1)
        assert recovered <= {tx.hash.hex() for tx in txs} - set(acked)
    assert net.node.stop() == 0
    _check_store(net.db_path, net.genesis, all_acked)
