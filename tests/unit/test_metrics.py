"""chainnode.metrics without a network: per-node registries, the phase clock read off the
consensus core's actions, and docs (operations table, Grafana dashboard) naming only series that
exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from chainnode.consensus import actions as A
from chainnode.consensus.messages import Commit, PrePrepare
from chainnode.metrics import NodeMetrics

ROOT = Path(__file__).resolve().parents[2]


class _Pool(list):
    rejected = {"TX_EXPIRED": 3}


def samples(m: NodeMetrics) -> dict[str, float]:
    out = {}
    for fam in text_string_to_metric_families(m.render().decode()):
        for s in fam.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def bound(height: int = 5) -> NodeMetrics:
    """Metrics bound to a stand-in node: head, view 2, 4 pending txs, 2 peers, sync target 9."""
    return NodeMetrics(SimpleNamespace(
        chain=SimpleNamespace(head=SimpleNamespace(height=height)), view=2,
        mempool=_Pool([1, 2, 3, 4]), peer_list=lambda: [{}, {}],
        sync=SimpleNamespace(target=9), net=None))


def test_gauges_and_counters_are_read_off_the_node_at_scrape_time():
    s = samples(bound())
    assert s["chainnode_height"] == 5 and s["chainnode_view"] == 2
    assert s["chainnode_mempool_size"] == 4 and s["chainnode_peers"] == 2
    assert s["chainnode_sync_lag_blocks"] == 4
    assert s["chainnode_tx_rejected_total{code=TX_EXPIRED}"] == 3
    assert s["chainnode_peer_bans_total"] == 0


def test_two_nodes_in_one_process_keep_separate_series():
    a, b = bound(1), bound(7)
    a.view_changed()
    sa, sb = samples(a), samples(b)
    assert (sa["chainnode_height"], sb["chainnode_height"]) == (1, 7)
    assert (sa["chainnode_view_changes_total"], sb["chainnode_view_changes_total"]) == (1, 0)


def _ex(txs, ok=True):
    return SimpleNamespace(block=SimpleNamespace(txs=txs),
                           outcome=SimpleNamespace(receipts=[SimpleNamespace(ok=ok)] * len(txs)))


def test_commit_latency_interval_and_phases():
    m = NodeMetrics()
    tx = SimpleNamespace(hash=b"t" * 32)
    m.tx_admitted(tx)
    pp = PrePrepare(0, 1, b"h" * 32, b"body", 0)
    m.consensus_action(A.Send(pp))  # leader sends its pre-prepare
    m.consensus_action(A.Send(Commit(0, 1, b"h" * 32, 0, 0)))  # prepared: own COMMIT vote
    m.consensus_action(A.CommitBlock(1, b"h" * 32, b"body", None))
    m.committed(_ex([tx]))
    m.consensus_action(A.ValidateBlock(2, 0, b"i" * 32, b"body"))  # a follower's round
    m.committed(_ex([SimpleNamespace(hash=b"u" * 32)], ok=False))  # never admitted here
    s = samples(m)
    assert s["chainnode_tx_commit_latency_seconds_count"] == 1
    assert s["chainnode_block_interval_seconds_count"] == 1
    assert s["chainnode_consensus_phase_seconds_count{phase=pre_prepare_to_prepared}"] == 1
    assert s["chainnode_consensus_phase_seconds_count{phase=prepared_to_committed}"] == 1
    assert s["chainnode_blocks_committed_total"] == 2 and s["chainnode_txs_failed_total"] == 1
    assert m._rounds and all(h > 1 for h, _ in m._rounds)  # committed rounds are forgotten


def test_exec_steps_are_timed_by_name_and_others_pass_through():
    m = NodeMetrics()

    def build(x):
        return x + 1

    def commit(x):
        return x * 2

    def other(x):
        return x

    assert m.timed_exec(build)(1) == 2 and m.timed_exec(commit)(3) == 6
    assert m.timed_exec(other) is other
    s = samples(m)
    assert s["chainnode_block_execution_seconds_count{step=build}"] == 1
    assert s["chainnode_consensus_phase_seconds_count{phase=commit}"] == 1


def test_verify_pool_records_queue_wait():
    m = NodeMetrics()
    pool = m.verify_pool("block", 1, "t")
    try:
        assert [f.result() for f in [pool.submit(pow, 2, i) for i in range(3)]] == [1, 2, 4]
    finally:
        pool.shutdown()
    assert samples(m)["chainnode_sm2_verify_queue_seconds_count{pool=block}"] == 3


def test_sidechain_hooks_fill_their_series():
    m = NodeMetrics()
    m.sidechain_client("district-7", 12, "active")
    m.packet_relayed("uplink", "district-7")
    s = samples(m)
    assert s["chainnode_sidechain_client_lag_blocks{chain=district-7}"] == 12
    assert s["chainnode_sidechain_client_status{chain=district-7,status=active}"] == 1
    assert s["chainnode_sidechain_client_status{chain=district-7,status=frozen}"] == 0
    assert s["chainnode_relayed_packets_total{chain=district-7,direction=uplink}"] == 1


def test_docs_and_dashboard_name_only_real_series():
    m = bound()
    m.sidechain_client("x", 0, "active")
    m.packet_relayed("uplink", "x")
    kinds = {fam.name: fam.type for fam in text_string_to_metric_families(m.render().decode())}
    table = (ROOT / "docs/operations.md").read_text()
    documented = set(re.findall(r"^\| `(chainnode_\w+)` \|", table, re.M))
    assert documented == {n + "_total" if k == "counter" else n for n, k in kinds.items()}
    dash = json.loads((ROOT / "docs/grafana-dashboard.json").read_text())
    used = {name for p in dash["panels"] for t in p["targets"]
            for name in re.findall(r"chainnode_\w+", t["expr"])}
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    allowed = {n + suf for n, kind in kinds.items() for suf in suffixes.get(kind, ("",))}
    assert used and used <= allowed


def test_tx_stages_time_executor_smt_wal_and_async_steps():
    """What scripts/bench.py --profile reads: the executor and the SMT update are timed from
    outside the chain, WAL writes by name, async stages by a context manager."""
    import asyncio

    executor = SimpleNamespace(execute_block=lambda *a: "outcome")
    db = SimpleNamespace(compute_state_update=lambda root, writes: (root, {}))
    m = NodeMetrics(SimpleNamespace(
        chain=SimpleNamespace(head=SimpleNamespace(height=1), executor=executor), view=0,
        mempool=_Pool(), peer_list=lambda: [], sync=None, net=None, db=db))
    assert executor.execute_block(1, 2) == "outcome"
    assert db.compute_state_update(b"r", {}) == (b"r", {})

    def apply(puts, deletes=()):
        return len(puts)

    assert m.timed_exec(apply)([1, 2]) == 2

    async def admit():
        with m.timing("admission"):
            await asyncio.sleep(0)

    asyncio.run(admit())
    s = samples(m)
    for stage in ("execute", "state_root", "wal", "admission"):
        assert s[f"chainnode_tx_stage_seconds_count{{stage={stage}}}"] == 1, stage
