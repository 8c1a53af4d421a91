"""Acceptance: a node whose disk fills up under load stops with EXIT_STORAGE_FAILURE and loses
nothing it acknowledged.

The node's data directory is a small tmpfs this test mounts (and always unmounts). Clients
submit with `?wait=commit` until the filesystem is filled; the node must log CRITICAL with the
cause and exit 74 (not keep answering with a stale head). Restarted on the still-full disk it
refuses to start with the same code; after space is freed it resumes from its last durable
block with every acknowledged transaction in place, a state root that matches its values, and
goes on committing.
"""

from __future__ import annotations

import importlib.util
import secrets
import sys
import threading
from pathlib import Path

from integration_harness import init_single_node, wait_until

from chainnode.client import Client, RpcError
from chainnode.errors import EXIT_STORAGE_FAILURE
from chainnode.store.db import ChainDB


def _load_tmpfs():
    path = Path(__file__).resolve().parents[1] / "unit" / "store" / "tmpfs_mount.py"
    spec = importlib.util.spec_from_file_location("tmpfs_mount", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("tmpfs_mount", mod)
    spec.loader.exec_module(mod)
    return mod


tmpfs = _load_tmpfs()
CLIENTS = 8


class _Load:
    """Threads registering members with ?wait=commit; every acknowledged commit is kept."""

    def __init__(self, url: str, key, chain_id: str) -> None:
        self.url, self.key, self.chain_id = url, key, chain_id
        self.acks: dict[str, int] = {}
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def __enter__(self) -> _Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)
            assert not t.is_alive()

    def _run(self) -> None:
        c = Client(self.url, self.key, chain_id=self.chain_id, timeout=30)
        while not self.stop.is_set():
            try:
                tx = c.build("system", "sys.members", "register",
                             {"address": secrets.token_hex(20), "roles": ["member"],
                              "name": ""})
                res = c.submit(tx, wait=True, timeout=20)
            except (OSError, RpcError) as exc:
                with self.lock:
                    self.errors.append(repr(exc)[:200])
                self.stop.wait(0.05)
                continue
            with self.lock:
                if res["status"] == "committed" and res["receipt"]["status"] == "ok":
                    self.acks[res["hash"]] = res["height"]
                else:
                    self.errors.append(repr(res)[:200])

    def count(self) -> int:
        with self.lock:
            return len(self.acks)


def test_disk_full_under_load_exits_74_and_resumes_from_the_durable_head(tmp_path, procs):
    net = init_single_node(tmp_path / "testnet", procs, start=False)
    with tmpfs.mounted_tmpfs(net.home / "data", "16m") as data:
        try:
            net.node.start()
            net.node.wait_ready()
            with _Load(net.url, net.admin_key, net.chain_id) as load:
                wait_until(lambda: load.count() >= 100, 120,
                           f"100 acknowledged commits (errors: {load.errors[-3:]})")
                tmpfs.fill(data)
                code = net.node.proc.wait(60)  # the next write fails: the node stops itself
            acks = dict(load.acks)
            assert code == EXIT_STORAGE_FAILURE, net.node.log_tail()
            log = net.node.log_text()
            critical = [ln for ln in log.splitlines() if " CRITICAL " in ln]
            assert critical and any("No space left on device" in ln for ln in critical), \
                net.node.log_tail()
            assert any(f"exit code {EXIT_STORAGE_FAILURE}" in ln for ln in critical)
            top = max(acks.values())

            # restarted on the still-full disk: it refuses, with the same code
            net.node.start()
            assert net.node.proc.wait(60) == EXIT_STORAGE_FAILURE, net.node.log_tail()
            assert "cannot start" in net.node.log_tail(5)

            # space freed: the node resumes from its last durable block
            tmpfs.free(data)
            net.node.start()
            st = net.node.wait_ready()
            assert st["height"] >= top, (st["height"], top)
            c = net.client()
            lost = [(h, height) for h, height in acks.items()
                    if c.tx(h).get("height") != height]
            assert not lost, f"{len(lost)} of {len(acks)} acknowledged txs lost: {lost[:5]}"
            res = c.submit(c.build("system", "sys.members", "register",
                                   {"address": secrets.token_hex(20), "roles": ["member"],
                                    "name": ""}), wait=True)
            # (the block that was prepared when the disk filled may commit first: its WAL
            # record survived, so the restarted validator proposes it again)
            assert res["status"] == "committed" and res["height"] > st["height"]
            assert net.node.stop() == 0
            db = ChainDB(data / "chain.ldb")
            try:
                head = db.head()
                assert head.height == res["height"]
                assert db.recompute_state_root() == head.state_root
            finally:
                db.close()
            print(f"disk full after {len(acks)} acknowledged commits (height {top}); "
                  f"resumed at height {st['height']}")
        finally:
            net.node.stop()  # before the unmount, also when the test failed


def test_a_new_node_on_a_full_disk_exits_74_before_serving(tmp_path, procs):
    net = init_single_node(tmp_path / "testnet", procs, start=False)
    with tmpfs.mounted_tmpfs(net.home / "data", "1m") as data:
        try:
            tmpfs.fill(data)
            net.node.start()
            assert net.node.proc.wait(60) == EXIT_STORAGE_FAILURE, net.node.log_tail()
            tail = net.node.log_tail(5)
            assert " CRITICAL " in tail and "No space left on device" in tail, tail
            assert net.node.status() is None
            tmpfs.free(data)
            net.node.start()
            assert net.node.wait_ready()["height"] == 0
        finally:
            net.node.stop()
