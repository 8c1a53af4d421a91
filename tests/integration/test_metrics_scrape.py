"""GET /metrics on a real 4-validator testnet under load: the Prometheus histograms, gauges and
counters of chainnode.metrics carry the node's real activity (non-zero counts where there was
activity), in a format prometheus-client's own parser reads back."""

from __future__ import annotations

import urllib.request

import pytest
from cluster import Load, running_net, wait_until
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

LOAD_TXS = 30


def scrape(node) -> tuple[str, dict[str, dict[tuple, float]]]:
    """(content type, {sample name: {sorted labels: value}}) of one node's /metrics."""
    with urllib.request.urlopen(node.url + "/metrics", timeout=5) as resp:
        ctype = resp.headers["Content-Type"]
        text = resp.read().decode()
    out: dict[str, dict[tuple, float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return ctype, out


def count(m: dict, name: str, **labels: str) -> float:
    want = tuple(sorted(labels.items()))
    return sum(v for k, v in m.get(name, {}).items() if set(want) <= set(k))


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    with running_net(tmp_path_factory.mktemp("metrics") / "testnet",
                     chain_id="chainnode-metrics") as tn:
        yield tn


def test_metrics_after_load_show_histograms_gauges_and_counters(net):
    with Load(net, threads=4, max_txs=LOAD_TXS) as load:
        wait_until(load.done, 60, lambda: f"{LOAD_TXS} commits (errors: {load.errors[-3:]})")
    acked = load.count()
    assert acked >= LOAD_TXS
    # a refused transaction is counted by its code (a stranger is not a member)
    leader = net.leader()
    from chainnode.crypto.sm2 import PrivateKey

    stranger = leader.client(PrivateKey.generate(), net.chain_id)
    tx = stranger.build("system", "sys.members", "register",
                        {"address": "00" * 20, "roles": ["member"], "name": ""})
    status, _ = _post(leader.url + "/tx", tx.encode())
    assert status == 403
    height = leader.height()
    # every node has committed the last block before we read its counters
    net.wait_height(net.nodes, height, 20)

    ctype, m = scrape(leader)
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype
    # the seven series of the first /metrics keep their names
    assert m["chainnode_height"][()] >= height
    assert m["chainnode_blocks_committed_total"][()] >= height
    assert m["chainnode_txs_committed_total"][()] >= acked
    assert m["chainnode_txs_failed_total"][()] == 0
    assert m["chainnode_mempool_size"][()] == 0
    assert m["chainnode_view"][()] == leader.status()["view"]
    assert m["chainnode_tx_rejected_total"][(("code", "TX_NOT_MEMBER"),)] >= 1
    # gauges read off the node
    assert m["chainnode_peers"][()] == 3
    assert m["chainnode_sync_lag_blocks"][()] == 0

    # histograms: every node saw the load through consensus and execution
    total_latency = 0.0
    for node in net.nodes:
        _, nm = scrape(node)
        assert count(nm, "chainnode_block_interval_seconds_count") >= 1, node.name
        for phase in ("pre_prepare_to_prepared", "prepared_to_committed", "commit"):
            assert count(nm, "chainnode_consensus_phase_seconds_count", phase=phase) >= 1, \
                (node.name, phase)
            assert count(nm, "chainnode_consensus_phase_seconds_sum", phase=phase) > 0
        assert count(nm, "chainnode_block_execution_seconds_count") >= 1, node.name
        assert count(nm, "chainnode_sm2_verify_queue_seconds_count", pool="block") >= 1
        assert count(nm, "chainnode_rpc_request_seconds_count", route="/status",
                     method="GET") >= 1
        total_latency += count(nm, "chainnode_tx_commit_latency_seconds_count")
        # the +Inf bucket holds every observation
        inf = count(nm, "chainnode_tx_commit_latency_seconds_bucket", le="+Inf")
        assert inf == count(nm, "chainnode_tx_commit_latency_seconds_count")
    # each tx's admission-to-commit latency is observed on the node it was admitted by
    # (forwarded ones on the others too)
    assert total_latency >= acked
    assert count(m, "chainnode_sm2_verify_queue_seconds_count", pool="admission") >= 1
    assert count(m, "chainnode_rpc_request_seconds_count", route="/tx", method="POST") >= 1
    # defined, empty until side chains exist
    assert count(m, "chainnode_relayed_packets_total") == 0
    assert count(m, "chainnode_view_changes_total") == 0 or m["chainnode_view"][()] > 0


def _post(url: str, body: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(url, body, {"Content-Type": "application/msgpack"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
