"""Fixtures of the fault suite: fresh 4-validator testnets of real node processes.

Every test gets its own testnet (so one case's faults never leak into the next, and cases can
run in parallel workers), made by `chainnode.testnet.init` with short view timeouts. Every
process a test started is stopped in teardown, paused ones first continued, also when the test
failed; then the node logs are printed.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _load_harness():
    """tests/faults/harness.py under a unique name (other test dirs have a `harness` too)."""
    name = "chainnode_fault_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("harness.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


harness = _load_harness()
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items) -> None:
    """Everything under tests/faults is the fault suite (and slow)."""
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def say(capsys):
    """Print to the terminal even when pytest captures output (the cases' figures)."""
    def _say(text: str) -> None:
        with capsys.disabled():
            print(text, flush=True)
    return _say


@pytest.fixture
def make_net(tmp_path, request) -> Iterator:
    """make_net(params=None, start=True) -> LocalNet; all of them are stopped at teardown."""
    nets: list = []

    def _make(params: dict | None = None, start: bool = True):
        p = dict(harness.FAULT_PARAMS)
        p.update(params or {})
        net = harness.LocalNet(tmp_path / f"testnet{len(nets)}", params=p)
        nets.append(net)
        if start:
            net.start()
            net.wait_meshed()
        return net

    try:
        yield _make
    finally:
        failed = any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False)
                     for w in ("setup", "call"))
        for net in nets:
            if failed:
                print(net.report(80))
            net.stop_all()
