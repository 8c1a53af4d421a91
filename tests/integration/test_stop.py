"""Acceptance: stopping a node is prompt, also with clients waiting for commits.

SIGTERM answers every pending `?wait=commit` request with 503 UNAVAILABLE "node stopping"
before the RPC server shuts down (it used to wait out each client's timeout, up to 120 s here),
closes /events subscriptions with "going away", and the process exits 0 within seconds.
`chainnode testnet down` stops a 4-validator testnet under load within 10 s without SIGKILL.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from integration_harness import free_base_port, http, init_single_node, run_cli, wait_until

from chainnode import codec
from chainnode.client import Client, RpcError
from chainnode.core.tx import build_tx
from chainnode.crypto.keyfile import load_private_key
from chainnode.testnet import pid_alive

# serial: bounds on how promptly a node / a testnet stops (tests/conftest.py)
pytestmark = pytest.mark.serial

WAITERS = 48
STOP_BOUND_S = 5.0
DOWN_BOUND_S = 10.0


def _register(key, chain_id: str, height: int):
    return build_tx(key, chain_id, "system", "sys.members", "register",
                    {"address": secrets.token_hex(20), "roles": ["member"], "name": ""},
                    expires_at=height + 500, gas_limit=100_000)


def _subscribe(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=30)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    s.sendall(f"GET /events HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
              f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
              f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert b" 101 " in head.split(b"\r\n")[0], head[:200]
    return s


def _close_code(s: socket.socket) -> int | None:
    """The status code of the close frame the server sends (None if the socket just ends)."""
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return None
        data += chunk
        if len(data) >= 4 and data[0] & 0x0F == 0x8:
            return int.from_bytes(data[2:4], "big")


def test_sigterm_answers_every_waiter_503_and_exits_promptly(tmp_path, procs):
    # a leader that waits a minute before proposing: every wait=commit request stays pending
    net = init_single_node(tmp_path / "testnet", procs, params={"block_interval_ms": 60_000})
    h = net.status()["height"]
    txs = [_register(net.admin_key, net.chain_id, h) for _ in range(WAITERS)]
    sub = _subscribe(net.url)
    outcomes: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def wait_commit(i: int) -> None:
        if i % 4 == 3:  # some through the batch endpoint
            body = codec.encode([txs[i].encode()])
            st, doc = http("POST", net.url + "/txs?wait=commit&timeout=120", body, timeout=150)
        else:
            st, doc = http("POST", net.url + "/tx?wait=commit&timeout=120", txs[i].encode(),
                           timeout=150)
        with lock:
            outcomes.append((st, doc))

    with ThreadPoolExecutor(WAITERS) as pool:
        futs = [pool.submit(wait_commit, i) for i in range(WAITERS)]
        wait_until(lambda: net.status()["mempool"] == WAITERS, 30,
                   f"{WAITERS} transactions pending")
        assert not outcomes  # all of them are waiting
        t0 = time.monotonic()
        net.node.proc.terminate()
        code = net.node.proc.wait(30)
        took = time.monotonic() - t0
        for f in futs:
            f.result(30)
    print(f"SIGTERM with {WAITERS} waiters: exited in {took:.2f}s")
    assert code == 0, net.node.log_tail()
    assert took < STOP_BOUND_S, f"stop took {took:.1f}s"
    assert len(outcomes) == WAITERS
    for st, doc in outcomes:
        assert st == 503, doc
        assert doc["error"] == {"code": "UNAVAILABLE", "message": "node stopping"}, doc
    assert _close_code(sub) == 1001  # the subscription ended with "going away"
    sub.close()
    log = net.node.log_text()
    assert f"answered {WAITERS} waiting clients: node stopping" in log
    assert "Traceback" not in log and " ERROR " not in log


def _pids(root: Path) -> list[int]:
    return [int(p.read_text()) for p in sorted(root.glob("node*/node.pid"))]


def test_testnet_down_under_load_is_prompt_and_never_kills(tmp_path, procs):
    root = tmp_path / "net"
    base = free_base_port(8)
    run_cli("testnet", "init", "--nodes", "4", "--dir", str(root), "--base-port", str(base),
            "--param=view_timeout_ms=1000", "--param=max_view_timeout_ms=4000")
    try:
        run_cli("testnet", "up", "--dir", str(root), timeout=120)
    finally:
        procs.extra_pids.extend(_pids(root))
    pids = _pids(root)
    assert len(pids) == 4
    urls = [n["rpc"] for n in json.loads((root / "testnet.json").read_text())["nodes"]]
    key = load_private_key(root / "admin.key")
    committed, unavailable, other = [], [], []
    dropped: list[tuple[float, OSError]] = []  # (when the request started, what the client saw)
    in_flight = [0]
    lock = threading.Lock()
    stop = threading.Event()

    def load(i: int) -> None:
        c = Client(urls[i % 4], key, timeout=60)
        while not stop.is_set():
            try:
                tx = c.build("system", "sys.members", "register",
                             {"address": secrets.token_hex(20), "roles": ["member"],
                              "name": ""})
            except (OSError, RpcError):
                return  # the node is gone
            with lock:
                in_flight[0] += 1
            started = time.monotonic()
            try:
                res = c.submit(tx, wait=True, timeout=60)
                with lock:
                    committed.append(res["hash"])
            except RpcError as exc:
                with lock:
                    (unavailable if exc.code == "UNAVAILABLE" else other).append(exc)
            except OSError as exc:
                with lock:
                    dropped.append((started, exc))
                return  # the node has stopped listening
            finally:
                with lock:
                    in_flight[0] -= 1

    threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(16)]
    for t in threads:
        t.start()
    wait_until(lambda: len(committed) >= 50, 90, "50 commits under load")
    wait_until(lambda: in_flight[0] >= 8, 30, "requests in flight")
    t0 = time.monotonic()
    out = run_cli("testnet", "down", "--dir", str(root), timeout=60)
    took = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join(30)
    print(f"testnet down under load: {took:.2f}s, {len(unavailable)} clients answered 503, "
          f"{len(committed)} commits, {len(dropped)} refused after the stop")
    assert took < DOWN_BOUND_S, f"testnet down took {took:.1f}s:\n{out.stdout}"
    assert "killed" not in out.stdout, out.stdout
    assert out.stdout.count("stopped pid") == 4, out.stdout
    assert not any(pid_alive(p) for p in pids)
    assert not other, other[:3]  # no timeouts, no internal errors: answered or committed
    # a request the node had already taken was answered (committed or 503), never dropped
    cut = [exc for started, exc in dropped if started < t0]
    assert not cut, cut[:3]
    for name in ("node0", "node1", "node2", "node3"):
        log = (root / name / "node.log").read_text()
        stopping = log[log.index(f"node {name} stopping"):]  # the stop itself is clean
        assert "stopped in" in stopping and "Traceback" not in stopping, stopping[-3000:]
