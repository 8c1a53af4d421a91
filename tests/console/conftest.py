"""Fixtures for the console tests: one 4-validator testnet loaded with the demo's day
(scripts/demo.py, left running by it), one headless Chromium from the system (Debian's
`chromium` package, never Playwright's own download), and a page per test that fails the test
on any browser console error or uncaught exception.

Screenshots go to tests/console/artifacts/ (ignored by git); the path is printed at the end of
the run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from console_env import (
    ARTIFACTS,
    DEMO_TIMEOUT,
    HOSTILE_CONTRACT,
    HOSTILE_NAME,
    HOSTILE_NOTE,
    REPO,
    VIEW_TIMEOUT_MS,
)

from chainnode.client import Client
from chainnode.core.genesis import Genesis
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import load_private_key
from chainnode.crypto.sm2 import PrivateKey

# the multi-process helpers of the integration tests (appended: nothing here is shadowed)
sys.path.append(str(REPO / "tests" / "integration"))
from cluster import free_base_port, wait_until  # noqa: E402


@dataclass
class DemoNet:
    root: Path
    urls: list[str]
    genesis: Genesis
    admin: PrivateKey
    demo_out: str
    hostile_tx: str = ""
    hostile_member: str = ""

    @property
    def url(self) -> str:
        return self.urls[0]

    def client(self, key: PrivateKey | None = None) -> Client:
        return Client(self.url, key, chain_id=self.genesis.chain_id, timeout=60.0)

    def get(self, path: str):
        return self.client().get(path)

    def q(self, contract: str, method: str, **args):
        return self.client().query(contract, method, args)


def _cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainnode", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def demo_net(tmp_path_factory) -> DemoNet:
    """The demo day on a fresh 4-validator testnet, plus hostile strings on chain; always
    stopped (`chainnode testnet down`) at the end. Without the demo's heating act, so the FL
    page's empty state is seen before a task is deployed."""
    root = tmp_path_factory.mktemp("console") / "testnet"
    base = free_base_port(8)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    try:
        proc = subprocess.run([sys.executable, "scripts/demo.py", "--dir", str(root), "--nodes",
                               "4", "--base-port", str(base), "--no-heating"],
                              cwd=REPO, capture_output=True,
                              text=True, timeout=DEMO_TIMEOUT, env=env)
        assert proc.returncode == 0, f"demo failed\n{proc.stdout}\n{proc.stderr}"
        manifest = json.loads((root / "testnet.json").read_text())
        net = DemoNet(root, [n["rpc"] for n in manifest["nodes"]],
                      Genesis.load(root / "genesis.json"), load_private_key(root / "admin.key"),
                      proc.stdout)
        _plant(net)
        yield net
    finally:
        if (root / "testnet.json").exists():
            _cli("testnet", "down", "--dir", str(root))


def _plant(net: DemoNet) -> None:
    """A member named with markup, a contract echoing markup in an event, a governance
    proposal; then every node has applied all of it."""
    admin = net.client(net.admin)
    stranger = PrivateKey.generate()
    net.hostile_member = address_of(stranger.public_key)
    rc = admin.register(net.hostile_member, ["member"], HOSTILE_NAME)["receipt"]
    assert rc["status"] == "ok", rc
    rc = admin.deploy("hostile", HOSTILE_CONTRACT)["receipt"]
    assert rc["status"] == "ok", rc
    res = admin.call("hostile", "note", {"text": HOSTILE_NOTE})
    assert res["receipt"]["status"] == "ok", res
    net.hostile_tx = res["hash"]
    res = admin.call("sys.governance", "propose", {
        "kind": "set-param", "payload": {"name": "max_block_txs", "value": 1999}})
    assert res["receipt"]["status"] == "ok", res
    top = admin.height()
    for u in net.urls:
        wait_until(lambda u=u: Client(u).height() >= top, 30, f"{u} at height {top}")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Chromium is not installed (Debian: apt-get install chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    """A fresh laptop-sized page; the test fails on any console error or page exception."""
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    pg = ctx.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
          if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.set_default_timeout(VIEW_TIMEOUT_MS)
    pg.problems = problems
    try:
        yield pg
    finally:
        ctx.close()
    assert not problems, "browser reported:\n" + "\n".join(problems)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if ARTIFACTS.is_dir() and any(ARTIFACTS.glob("*.png")):
        terminalreporter.write_line(f"console screenshots: {ARTIFACTS}")
