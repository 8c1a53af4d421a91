"""A network across machines (issue 13, item 5), with network namespaces as the machines.

NEEDS ROOT (CI runs as root): the test makes 4 network namespaces joined by a bridge
(tests/integration/netns_lab.py), writes a hosts file with their addresses, runs
`chainnode network init --tar`, unpacks each host's tarball into that host's own directory (as
an operator would after copying it), and runs each node with `ip netns exec` on its host. The
nodes bind only their host's address, so every link between validators crosses the bridge.
It shows commits, a kill -9 of the leader (the others change view and commit) and the killed
node's catch-up after a restart. Teardown stops the processes the test started and deletes the
namespaces and links, also when the test fails; then it asserts nothing of them is left.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from cluster import LocalNet, NodeProc, wait_until
from integration_harness import run_cli
from netns_lab import NetnsLab

from chainnode.core.genesis import Genesis
from chainnode.crypto.keyfile import load_private_key
from chainnode.testnet import pid_alive

pytestmark = [pytest.mark.slow, pytest.mark.needs_root]

HOSTS = 4
READY = 45.0
FAIL_ENV = "CHAINNODE_NETNS_INJECT_FAILURE"  # set by the teardown test: fail once meshed


class HostNode(NodeProc):
    """A node run on one of the lab's hosts: `ip netns exec <host> python -m chainnode ...`."""

    def __init__(self, name: str, index: int, home: Path, url: str, p2p: str,
                 prefix: list[str]) -> None:
        super().__init__(name, index, home, url, p2p)
        self.prefix = prefix

    def command(self) -> list[str]:
        return [*self.prefix, *super().command()]


class HostsNet(LocalNet):
    """LocalNet's observation and transaction helpers over nodes made by `network init`
    (its own __init__ makes a one-machine testnet, so it is not called)."""

    def __init__(self, root: Path, nodes: list[HostNode]) -> None:
        self.root = root
        self.genesis = Genesis.load(root / "genesis.json")
        self.chain_id = self.genesis.chain_id
        self.admin_key = load_private_key(root / "admin.key")
        self.nodes = nodes
        self.n = len(nodes)


@pytest.fixture
def lab():
    assert os.geteuid() == 0, ("test_netns needs root: it creates network namespaces, a bridge "
                               "and veth links (CI runs as root)")
    assert shutil.which("ip"), "test_netns needs the `ip` command (iproute2)"
    lab = NetnsLab(HOSTS)
    try:
        yield lab.up()
    finally:
        problems = lab.down()
        left = lab.leftovers()
        assert not problems and not left, f"netns teardown: {problems}, left over: {left}"


@pytest.fixture(params=[None, "0.0.0.0"], ids=["bind-host-address", "listen-0.0.0.0"])
def hosts_net(request, lab, tmp_path):
    """`network init` for the lab's hosts (nodes bind their host's address, or all with
    --listen 0.0.0.0); each package unpacked on its host; nodes stopped (SIGTERM, then
    SIGKILL) in teardown, before the lab is taken down."""
    listen = request.param
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# the lab's machines, one validator each\n"
                     + "".join(f"{a}:1  # host {i}\n" for i, a in enumerate(lab.addresses)))
    out = tmp_path / "network"
    run_cli("network", "init", "--hosts", str(hosts), "--dir", str(out), "--tar",
            "--chain-id", "chainnode-netns", "--param", "view_timeout_ms=1000",
            "--param", "max_view_timeout_ms=4000", *(["--listen", listen] if listen else []))
    nodes = []
    for i, addr in enumerate(lab.addresses):
        machine = tmp_path / f"machine{i}"
        with tarfile.open(out / f"{addr}.tar.gz") as tf:
            tf.extractall(machine, filter="data")
        pkg = machine / addr
        (entry,) = json.loads((pkg / "testnet.json").read_text())["nodes"]
        cfg = json.loads((pkg / entry["name"] / "node.json").read_text())
        assert (cfg["p2p_host"], cfg["rpc_host"]) == (listen or addr,) * 2
        assert entry["p2p"] == f"{addr}:{cfg['p2p_port']}"  # what the other hosts dial
        nodes.append(HostNode(entry["name"], int(entry["name"][4:]), pkg / entry["name"],
                              entry["rpc"], entry["p2p"], lab.exec_prefix(i)))
    net = HostsNet(out, nodes)
    try:
        yield net
    finally:
        if getattr(getattr(request.node, "rep_call", None), "failed", False):
            print(net.report())  # the node logs, with the failure
        net.stop_all()
        assert not [n.pid for n in nodes if n.pid and pid_alive(n.pid)]


def test_commits_leader_kill_and_catch_up_across_four_hosts(lab, hosts_net):
    net = hosts_net
    t_start = time.monotonic()
    for node in net.nodes:
        node.start()
    for node in net.nodes:
        st = node.wait_ready(READY)
        assert st["chain_id"] == net.chain_id
    net.wait_meshed(timeout=READY)
    # every link crosses the bridge: each node's peers are the other hosts' addresses
    for i, node in enumerate(net.nodes):
        remotes = {p["remote"].rpartition(":")[0] for p in node.status()["peers"]}
        assert remotes == set(lab.addresses) - {lab.addresses[i]}, (node.name, remotes)
    t_mesh = time.monotonic() - t_start
    print(f"[netns] prefix={lab.prefix} pids={[n.pid for n in net.nodes]}", flush=True)
    if os.environ.get(FAIL_ENV) == "1":
        raise AssertionError("injected failure midway (nodes running, lab up)")

    # commits
    res = net.register_one(net.nodes[1])
    head = net.wait_converged(net.nodes, timeout=20, min_height=res["height"])
    net.assert_same_chain_upto(net.nodes)

    # kill -9 of the leader: the other three change view and keep committing
    leader = net.leader()
    old_view = head["view"]
    pid = leader.pid
    killed_at = head["height"]
    # the pid we started is the node itself (ip netns exec execs it), on another network
    assert b"chainnode\0start" in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    leader.kill9()
    assert not pid_alive(pid)
    survivors = [n for n in net.nodes if n is not leader]
    t_kill = time.monotonic()
    res = net.register_one(survivors[0], timeout=30)
    t_recover = time.monotonic() - t_kill
    new_leader = net.leader()
    assert new_leader is not leader
    assert max(n.status()["view"] for n in survivors) > old_view
    for _ in range(2):  # the killed node misses these
        res = net.register_one(survivors[1], timeout=20)
    behind = net.wait_converged(survivors, timeout=20, min_height=res["height"])

    # catch-up: the killed node restarts on its host and fetches what it missed
    t_restart = time.monotonic()
    leader.start()
    leader.wait_ready(READY)
    net.wait_converged(net.nodes, timeout=30, min_height=behind["height"])
    t_catchup = time.monotonic() - t_restart
    net.wait_meshed(timeout=READY)
    net.assert_same_chain_upto(net.nodes)
    # and it takes part again: a transaction sent through it commits everywhere
    res = net.register_one(leader, timeout=30)
    wait_until(lambda: all((n.height() or 0) >= res["height"] for n in net.nodes), 20,
               lambda: f"all nodes at {res['height']} ({net.brief(net.nodes)})")
    print(f"[netns] {HOSTS} hosts on {lab.subnet}: meshed in {t_mesh:.1f}s, commit after "
          f"leader kill in {t_recover:.1f}s, catch-up of {behind['height'] - killed_at} blocks in "
          f"{t_catchup:.1f}s")


def test_teardown_after_a_failure_midway(tmp_path):
    """The test above, failing on purpose once its 4 nodes run (in a child pytest): the child
    fails, and afterwards none of its node processes, namespaces or links is left."""
    assert os.geteuid() == 0, "needs root (network namespaces)"
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
         f"{__file__}::test_commits_leader_kill_and_catch_up_across_four_hosts"
         "[bind-host-address]",
         "--basetemp", str(tmp_path / "child")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, FAIL_ENV: "1", "PYTHONHASHSEED": "0"})
    out = child.stdout + child.stderr
    assert child.returncode == 1 and "injected failure midway" in out, out[-3000:]
    m = re.search(r"\[netns\] prefix=(\S+) pids=\[([0-9, ]+)\]", out)
    assert m, out[-3000:]
    prefix, pids = m.group(1), [int(p) for p in m.group(2).split(",")]
    assert "netns teardown" not in out, out[-3000:]  # the child's own leftover check passed
    assert not [p for p in pids if pid_alive(p)], f"node processes left running: {pids}"
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert prefix not in names and prefix not in links, (names, links)
