"""`chainnode relay` between real node processes: main (4 validators) + two edge chains (1 and
4 validators) made by `testnet init --sidechains`, courier contracts on every chain counting
what arrives (duplicates and gaps are counted, not refused, so these tests would see them)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import urllib.request

import pytest
from cluster import FAST_PARAMS, free_base_port, wait_until

from chainnode import testnet, testnet_sides
from chainnode.client import Client
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import load_private_key, save_private_key
from chainnode.crypto.sm2 import PrivateKey
from chainnode.relay.courier import COURIER

pytestmark = pytest.mark.slow
MAIN = testnet_sides.MAIN_ID
WAIT = 90.0
RELAYER_ARGS = ("--backoff-max", "2", "--interval", "0.2", "--status-every", "2")


class Net:
    def __init__(self, root) -> None:
        self.root = root
        self.doc = testnet_sides.load(root)
        self.admin = {c["name"]: Client(testnet.manifest(root / c["dir"])["nodes"][0]["rpc"],
                                        load_private_key(root / c["dir"] / "admin.key"))
                      for c in self.doc["chains"]}
        self.relayers = {r["name"]: r for r in self.doc["relayers"]}

    def stats(self, on: str, peer: str) -> dict:
        return self.admin[on].query("courier", "stats", {"peer": self.admin[peer].chain_id})

    def send(self, on: str, to: str, n: int) -> None:
        rc = self.admin[on].call("courier", "send", {"dst": self.admin[to].chain_id, "n": n},
                                 gas_limit=50_000_000)["receipt"]
        assert rc["status"] == "ok", rc

    def relay_status(self, port: int) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
            return json.loads(r.read())

    def delivered(self, src: str, dst: str, total: int) -> bool:
        """dst holds `total` packets from src and src holds `total` acknowledgements."""
        got, back = self.stats(dst, src), self.stats(src, dst)
        return got["count"] >= total and back["acks"] >= total and (got, back)

    def exactly_once(self, src: str, dst: str, total: int) -> None:
        got, back = self.stats(dst, src), self.stats(src, dst)
        assert back["sent"] == total
        assert (got["count"], got["last"], got["dups"], got["gaps"]) == (total, total, 0, 0), got
        assert (back["acks"], back["ackdups"]) == (total, 0), back


@contextlib.contextmanager
def running_sides(root, nodes: int, side_nodes: list[int], ports: int,
                  relayer_args: tuple[str, ...], net_class=Net):
    """A multi-chain testnet up with its relayers and a courier on every chain; down after
    (every node of a chain's manifest, added ones too)."""
    testnet_sides.init(root, nodes, len(side_nodes), side_nodes, free_base_port(ports),
                       params=FAST_PARAMS)
    try:
        testnet_sides.up(root, out=io.StringIO(), relayer_args=relayer_args)
        n = net_class(root)
        for c in n.admin.values():
            assert c.deploy("courier", COURIER)["receipt"]["status"] == "ok"
        yield n
    finally:
        testnet_sides.down(root, out=io.StringIO())


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    with running_sides(tmp_path_factory.mktemp("sides"), 4, [1, 4], 300, RELAYER_ARGS) as n:
        yield n


def _pairs():
    return [("main", "edge-1"), ("main", "edge-2")]


def test_packets_flow_both_ways_under_load_exactly_once(net):
    for main, edge in _pairs():
        net.send(main, edge, 20)
        net.send(edge, main, 20)
        net.send(main, edge, 20)
        net.send(edge, main, 20)
    for main, edge in _pairs():
        for src, dst in ((main, edge), (edge, main)):
            wait_until(lambda s=src, d=dst: net.delivered(s, d, 40), WAIT, f"{src} -> {dst}")
            net.exactly_once(src, dst, 40)
    out = io.StringIO()
    assert testnet_sides.status(net.root, out), out.getvalue()
    rows = testnet_sides.client_rows(net.root)
    assert len(rows) == 4 and all(r["status"] == "active" for r in rows), rows
    st = net.relay_status(net.relayers["relayer-1"]["metrics_port"])
    assert {d["src"] for d in st["directions"]} == {MAIN, "district-1"}
    assert st["counters"]["recv_effect"] >= 80 and st["counters"].get("recv_failed", 0) == 0


def _restart_relayer(net: Net, name: str, *extra: str) -> int:
    r = net.relayers[name]
    testnet_sides.stop_relayer(net.root, r, out=io.StringIO())
    return testnet_sides.start_relayer(net.root, r, io.StringIO(), RELAYER_ARGS + extra)


def test_kill_9_relayer_mid_batch_then_restart_loses_and_repeats_nothing(net):
    before = net.stats("edge-1", "main")["count"]
    sent_up = net.stats("edge-1", "main")["sent"]
    testnet_sides.stop_relayer(net.root, net.relayers["relayer-1"], out=io.StringIO())
    net.send("main", "edge-1", 60)
    net.send("edge-1", "main", 60)
    pid = _restart_relayer(net, "relayer-1", "--batch", "7")
    wait_until(lambda: net.stats("edge-1", "main")["count"] > before, WAIT, "first batch")
    os.kill(pid, signal.SIGKILL)
    partial = net.stats("edge-1", "main")["count"] - before
    assert 0 < partial < 60, partial  # killed mid-stream
    _restart_relayer(net, "relayer-1")
    wait_until(lambda: net.delivered("main", "edge-1", before + 60), WAIT, "main -> edge-1")
    wait_until(lambda: net.delivered("edge-1", "main", sent_up + 60), WAIT, "edge-1 -> main")
    net.exactly_once("main", "edge-1", before + 60)
    net.exactly_once("edge-1", "main", sent_up + 60)


def test_main_chain_down_while_edge_commits_backlog_arrives_in_order(net):
    base = net.stats("main", "edge-2")["count"]
    testnet.down(net.root / "main", out=io.StringIO())
    for _ in range(3):  # three batches at three edge heights
        net.send("edge-2", "main", 10)
    port = net.relayers["relayer-2"]["metrics_port"]
    st = wait_until(lambda: (s := net.relay_status(port))["counters"].get("chain_down", 0) >= 2
                    and s, WAIT, "relayer-2 backing off while main is down")
    assert st["chains_up"][MAIN] is False
    testnet.up(net.root / "main", out=io.StringIO())
    wait_until(lambda: net.delivered("edge-2", "main", base + 30), WAIT, "backlog on main")
    net.exactly_once("edge-2", "main", base + 30)  # gaps == 0: arrived in sequence order
    assert net.relay_status(port)["chains_up"][MAIN] is True


def test_two_relayers_at_once_cause_no_double_effects(net):
    key = PrivateKey.generate()
    rdir = net.root / "relayer-1b"
    rdir.mkdir()
    save_private_key(rdir / "relayer.key", key)
    for side in ("main", "edge-1"):
        rc = net.admin[side].register(address_of(key.public_key), ["relayer"], "relayer-1b")
        assert rc["receipt"]["status"] == "ok", rc
    first = net.relayers["relayer-1"]
    second = {**first, "name": "relayer-1b", "dir": "relayer-1b",
              "metrics_port": first["metrics_port"] + 5}
    c0 = net.relay_status(first["metrics_port"])["counters"]
    down0, up0 = net.stats("edge-1", "main")["count"], net.stats("main", "edge-1")["count"]
    log = open(rdir / "relayer.log", "ab")  # noqa: SIM115 - the child's log
    proc = subprocess.Popen(testnet_sides.relayer_cmd(net.root, second) + list(RELAYER_ARGS),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _answers(second["metrics_port"]), WAIT, "second relayer up")
        for _ in range(2):
            net.send("main", "edge-1", 15)
            net.send("edge-1", "main", 15)
        wait_until(lambda: net.delivered("main", "edge-1", down0 + 30), WAIT, "main -> edge-1")
        wait_until(lambda: net.delivered("edge-1", "main", up0 + 30), WAIT, "edge-1 -> main")
        net.exactly_once("main", "edge-1", down0 + 30)
        net.exactly_once("edge-1", "main", up0 + 30)

        def delta(name: str) -> int:
            c1 = net.relay_status(first["metrics_port"])["counters"]
            c2 = net.relay_status(second["metrics_port"])["counters"]
            return c1.get(name, 0) - c0.get(name, 0) + c2.get(name, 0)
        # every packet took effect exactly once between the two (a relayer counts a batch
        # once all of it committed, so wait for their tallies); no relayed item failed
        wait_until(lambda: delta("recv_effect") == 60 and delta("ack_effect") == 60, WAIT,
                   lambda: f"tallies {delta('recv_effect')} {delta('ack_effect')}")
        assert delta("recv_noop") + delta("ack_noop") > 0  # they did race for the same items
        assert delta("recv_failed") == 0 and delta("ack_failed") == 0
        assert delta("recv_effect") == 60 and delta("ack_effect") == 60
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2):
            return True
    except OSError:
        return False
