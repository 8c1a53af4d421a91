"""Local testnets on one machine: `chainnode testnet init|up|down|status`.

`init` writes everything a testnet needs into one directory (keys, genesis, node configs, TLS
certificates from a fresh testnet CA); `up` starts the node processes in the background with
logs and pids under that directory and waits, with visible progress, until every RPC answers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from chainnode import bootstrap
from chainnode.config import NodeConfig
from chainnode.core.genesis import Genesis
from chainnode.crypto.keyfile import save_private_key


def init(root: Path, nodes: int, observers: int = 0, chain_id: str = "chainnode-local",
         base_port: int = 26600, params: dict | None = None, accounts: int = 0,
         timestamp_ms: int | None = None, shared_machine: bool = False) -> Genesis:
    """A local testnet under `root`. Its nodes verify in worker processes only when it has
    one node and the machine runs nothing else of ours (`shared_machine`: other chains' nodes
    on the same cores, as testnet_sides starts)."""
    if nodes < 1:
        raise ValueError("--nodes must be at least 1")
    root.mkdir(parents=True, exist_ok=True)
    if (root / "genesis.json").exists():
        raise FileExistsError(f"{root} already holds a testnet (genesis.json exists)")
    chain = bootstrap.make_chain(root, nodes, observers, chain_id, params, accounts, timestamp_ms)
    genesis, keys = chain.genesis, chain.node_keys
    tls = _make_tls(root, nodes + observers)
    p2p = [base_port + 2 * i for i in range(nodes + observers)]
    for i, k in enumerate(keys):
        name = f"node{i}"
        home = root / name
        home.mkdir(exist_ok=True)
        save_private_key(home / "node.key", k)
        genesis.save(home / "genesis.json")
        peers = [f"127.0.0.1:{p2p[j]}" for j in range(nodes) if j != i]
        cfg = NodeConfig(name=name, chain_id=chain_id, rpc_port=p2p[i] + 1, p2p_port=p2p[i],
                         peers=peers, role="validator" if i < nodes else "observer",
                         # nodes sharing this machine: worker processes per node would only
                         # multiply processes competing for the same cores
                         verify_processes=0 if shared_machine or nodes + observers > 1 else -1)
        if tls:
            cfg.tls_ca, cfg.tls_cert, cfg.tls_key = tls[i]
        cfg.home = home
        cfg.save()
    (root / "testnet.json").write_text(json.dumps({
        "chain_id": chain_id, "validators": nodes, "observers": observers,
        "nodes": [{"name": f"node{i}", "rpc": f"http://127.0.0.1:{p2p[i] + 1}",
                   "p2p": f"127.0.0.1:{p2p[i]}"} for i in range(nodes + observers)],
        "admin_key": "admin.key"}, indent=2) + "\n")
    return genesis


def _make_tls(root: Path, count: int) -> list[tuple[str, str, str]] | None:
    try:
        from chainnode.net import tls  # noqa: F401 - needs `cryptography`
    except ImportError:
        return None
    ca_cert, ca_key = bootstrap.make_ca(root)
    return [bootstrap.node_tls(ca_cert, ca_key, f"node{i}", root / f"node{i}")
            for i in range(count)]


def manifest(root: Path) -> dict:
    try:
        return json.loads((root / "testnet.json").read_text())
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{root} is not a testnet (run `chainnode testnet init`)") from exc


def _rpc_ok(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url + "/status", timeout=1) as r:
            return json.loads(r.read())
    except OSError:
        return None


def up(root: Path, timeout: float = 60.0, out=sys.stdout,
       names: list[str] | None = None) -> list[int]:
    """Start the testnet's nodes (only `names` if given) that are not running."""
    m = manifest(root)
    if names is not None:
        m = {**m, "nodes": [n for n in m["nodes"] if n["name"] in names]}
    want = Genesis.load(root / "genesis.json").hash().hex()
    procs: dict[str, subprocess.Popen] = {}
    pids = []
    for n in m["nodes"]:
        home = root / n["name"]
        pidf = home / "node.pid"
        if pidf.exists() and pid_alive(int(pidf.read_text())):
            print(f"{n['name']}: already running (pid {pidf.read_text().strip()})", file=out)
            pids.append(int(pidf.read_text()))
            continue
        log = open(home / "node.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen([sys.executable, "-m", "chainnode", "start", "--home", str(home)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        pidf.write_text(str(proc.pid))
        procs[n["name"]] = proc
        pids.append(proc.pid)
        print(f"{n['name']}: started pid {proc.pid}, log {home / 'node.log'}", file=out)
    deadline = time.monotonic() + timeout
    pending = {n["name"]: n["rpc"] for n in m["nodes"]}
    while pending and time.monotonic() < deadline:
        for name, url in list(pending.items()):
            p = procs.get(name)
            if p is not None and p.poll() is not None:
                raise RuntimeError(f"{name} exited with code {p.returncode} before its RPC was "
                                   f"ready; see {root / name / 'node.log'}")
            st = _rpc_ok(url)
            if st is not None and st.get("genesis_hash") not in (None, want):
                raise RuntimeError(f"{url} answers for another chain: is another testnet using "
                                   "these ports? (choose --base-port)")
            if st is not None:
                print(f"{name}: ready at {url} (height {st['height']})", file=out)
                del pending[name]
        if pending:
            time.sleep(0.2)
    if pending:
        raise TimeoutError(f"nodes not ready after {timeout:.0f}s: {', '.join(sorted(pending))}"
                           f"; see their node.log")
    return pids


DOWN_TIMEOUT = 10.0  # a node answers its waiters and stops in about a second, even under load


def down(root: Path, timeout: float = DOWN_TIMEOUT, out=sys.stdout) -> list[str]:
    """Stop every node of the testnet: SIGTERM to all at once, then wait for all of them;
    SIGKILL only one still running after `timeout` (reported as such). Returns the names
    that had to be killed."""
    m = manifest(root)
    running: dict[str, tuple[int, Path]] = {}
    for n in m["nodes"]:
        pidf = root / n["name"] / "node.pid"
        if not pidf.exists():
            continue
        pid = int(pidf.read_text())
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            running[n["name"]] = (pid, pidf)
        else:
            pidf.unlink()
    t0 = time.monotonic()
    deadline = t0 + timeout
    killed = []
    while running:
        for name, (pid, pidf) in list(running.items()):
            if not pid_alive(pid):
                print(f"{name}: stopped pid {pid} in {time.monotonic() - t0:.1f}s", file=out)
            elif time.monotonic() >= deadline:
                os.kill(pid, signal.SIGKILL)
                killed.append(name)
                print(f"{name}: killed pid {pid} after {timeout:.0f}s", file=out)
            else:
                continue
            pidf.unlink()
            del running[name]
        if running:
            time.sleep(0.05)
    return killed


def status(root: Path, out=sys.stdout) -> list[dict | None]:
    m = manifest(root)
    res = []
    for n in m["nodes"]:
        st = _rpc_ok(n["rpc"])
        res.append(st)
        if st is None:
            print(f"{n['name']}: DOWN ({n['rpc']})", file=out)
        else:
            print(f"{n['name']}: height {st['height']} view {st['view']} mempool "
                  f"{st['mempool']} peers {len(st['peers'])} {n['rpc']}", file=out)
    return res


def stop_pid(pid: int, timeout: float = 20.0) -> bool:
    """SIGTERM, then SIGKILL if still alive after `timeout`; True if it had to kill."""
    if not pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
        return True
    return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as dead
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True
