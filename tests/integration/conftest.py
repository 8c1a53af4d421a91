"""Fixtures for multi-process tests: testnet directories made by the real CLI, node processes
started with `python -m chainnode start --home ...`, and reliable teardown.

Every process a test starts is recorded in a ProcessGroup and stopped in fixture teardown
(SIGTERM, then SIGKILL after a deadline), also when the test fails. Only those pids are ever
signalled. Ports come from a random base below the kernel's ephemeral range, checked by binding.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# free_base_port and wait_until are re-exported to test modules via integration_harness
from cluster import STOP_TIMEOUT, NodeProc, free_base_port, wait_until  # noqa: F401

from chainnode.client import Client
from chainnode.core.genesis import Genesis
from chainnode.crypto.keyfile import load_private_key
from chainnode.crypto.sm2 import PrivateKey
from chainnode.testnet import stop_pid

CLI_TIMEOUT = 60.0


# -- outcome of the test, so teardown can show node logs when it failed
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _failed(request: pytest.FixtureRequest) -> bool:
    node = request.node
    return any(getattr(getattr(node, f"rep_{w}", None), "failed", False)
               for w in ("setup", "call"))


# -- ports
def http(method: str, url: str, body: bytes | None = None,
         ctype: str = "application/msgpack", timeout: float = 30.0) -> tuple[int, Any]:
    """(status, parsed JSON or text). Never raises for HTTP error statuses."""
    headers = {"Content-Type": ctype} if body is not None else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


# -- CLI
def run_cli(*args: str, timeout: float = CLI_TIMEOUT, check: bool = True,
            env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "chainnode", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"chainnode {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


# -- node processes
class NodeProcess(NodeProc):
    """One `python -m chainnode start --home HOME` child process we own (single-node tests)."""

    def __init__(self, home: Path, url: str) -> None:
        super().__init__(home.name, 0, home, url)


class ProcessGroup:
    """Every node process a fixture hands out; stop_all() ends each of them."""

    def __init__(self) -> None:
        self.nodes: list[NodeProcess] = []
        self.extra_pids: list[int] = []  # pids started indirectly (e.g. `testnet up`)

    def add(self, node: NodeProcess) -> NodeProcess:
        self.nodes.append(node)
        return node

    def stop_all(self) -> None:
        for n in self.nodes:
            try:
                n.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                if n.proc is not None and n.proc.poll() is None:
                    n.proc.kill()
        for pid in self.extra_pids:
            stop_pid(pid, STOP_TIMEOUT)

    def report(self) -> str:
        return "\n".join(f"--- {n.home.name} log tail ---\n{n.log_tail()}" for n in self.nodes)


# -- a one-validator testnet made by the CLI
@dataclass
class SingleNode:
    root: Path
    base_port: int
    genesis: Genesis
    admin_key: PrivateKey
    node: NodeProcess
    group: ProcessGroup
    manifest: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def home(self) -> Path:
        return self.node.home

    @property
    def db_path(self) -> Path:
        return self.home / "data" / "chain.ldb"

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id

    def client(self, key: PrivateKey | None = None) -> Client:
        return Client(self.url, key if key is not None else self.admin_key,
                      chain_id=self.chain_id, timeout=60.0)

    def http(self, method: str, path: str, body: bytes | None = None,
             ctype: str = "application/msgpack") -> tuple[int, Any]:
        return http(method, self.url + path, body, ctype)

    def status(self) -> dict:
        st = self.node.status()
        assert st is not None, f"node not answering:\n{self.node.log_tail()}"
        return st

    def metrics(self) -> dict[str, float]:
        status, text = http("GET", self.url + "/metrics")
        assert status == 200
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out


def init_single_node(root: Path, group: ProcessGroup, start: bool = True,
                     chain_id: str = "chainnode-test", attempts: int = 3,
                     params: dict | None = None) -> SingleNode:
    """`chainnode testnet init --nodes 1` into `root` and (optionally) start the node.

    A port found free can be taken by someone else before the node binds it; then the testnet
    is made again on other ports (in a sibling directory), up to `attempts` times."""
    for attempt in range(attempts):
        where = root if attempt == 0 else root.with_name(f"{root.name}-retry{attempt}")
        base = free_base_port(2)
        extra = [f"--param={k}={str(v).lower()}" for k, v in (params or {}).items()]
        run_cli("testnet", "init", "--nodes", "1", "--dir", str(where), "--base-port",
                str(base), "--chain-id", chain_id, *extra)
        manifest = json.loads((where / "testnet.json").read_text())
        genesis = Genesis.load(where / "genesis.json")
        admin = load_private_key(where / "admin.key")
        entry = manifest["nodes"][0]
        node = group.add(NodeProcess(where / entry["name"], entry["rpc"]))
        net = SingleNode(where, base, genesis, admin, node, group, manifest)
        if not start:
            return net
        node.start()
        try:
            node.wait_ready()
            return net
        except AssertionError:
            node.stop()
            tail = node.log_tail().lower()
            if attempt + 1 < attempts and ("address already in use" in tail
                                           or "errno 98" in tail):
                continue
            raise
    raise AssertionError("unreachable")


@pytest.fixture
def procs(request) -> Iterator[ProcessGroup]:
    group = ProcessGroup()
    try:
        yield group
    finally:
        if _failed(request):
            print(group.report())
        group.stop_all()


@pytest.fixture
def single_node(tmp_path, procs) -> SingleNode:
    """A fresh one-validator testnet (CLI `testnet init`) with its node running."""
    return init_single_node(tmp_path / "testnet", procs)


@pytest.fixture(scope="module")
def module_procs() -> Iterator[ProcessGroup]:
    group = ProcessGroup()
    try:
        yield group
    finally:
        group.stop_all()


@pytest.fixture(scope="module")
def shared_node(tmp_path_factory, module_procs) -> SingleNode:
    """One running single-validator node shared by a module's tests."""
    return init_single_node(tmp_path_factory.mktemp("shared") / "testnet", module_procs)


# Test modules import the helpers above as `integration_harness` (a conftest module cannot be
# imported by name: every test directory has one).
sys.modules.setdefault("integration_harness", sys.modules[__name__])
