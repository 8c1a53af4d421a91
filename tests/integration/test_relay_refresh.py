"""Idle chains with a short trusting period: the relayer keeps both light clients alive by
heartbeat blocks and refresh updates (an unrelayed client would expire within 10 s)."""

from __future__ import annotations

import io
import json
import time
import urllib.request

import pytest
from cluster import FAST_PARAMS, free_base_port, wait_until

from chainnode import testnet_sides

# serial: wall-clock bounds / short timers (tests/conftest.py)
pytestmark = [pytest.mark.slow, pytest.mark.serial]
PERIOD_MS = 10_000


def test_idle_clients_are_refreshed_before_they_expire(tmp_path):
    testnet_sides.init(tmp_path, 1, 1, 1, free_base_port(200), params=FAST_PARAMS,
                       trust={"trusting_period_ms": PERIOD_MS})
    port = testnet_sides.load(tmp_path)["relayers"][0]["metrics_port"]
    try:
        testnet_sides.up(tmp_path, out=io.StringIO(), relayer_args=("--interval", "0.2"))
        created = {(r["on"], r["of"]): r["trusted_height"]
                   for r in testnet_sides.client_rows(tmp_path)}

        def refreshed() -> dict | None:
            now = {(r["on"], r["of"]): r["trusted_height"]
                   for r in testnet_sides.client_rows(tmp_path)}
            return now if all(h > created[k] for k, h in now.items()) else None
        first = wait_until(refreshed, PERIOD_MS / 1000, "the first refresh of both clients")
        end = time.monotonic() + 2 * PERIOD_MS / 1000  # two trusting periods
        while time.monotonic() < end:  # every client stays active the whole time
            rows = testnet_sides.client_rows(tmp_path)
            assert all(r["status"] == "active" for r in rows), rows
            time.sleep(0.5)
        assert all(r["trusted_height"] > first[(r["on"], r["of"])] for r in rows), (first, rows)

        def counters() -> dict:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
                return json.loads(r.read())["counters"]
        c = wait_until(lambda: (c := counters()).get("heartbeat_ok", 0) >= 2 and c, 30,
                       "heartbeats")
        assert c.get("update_effect", 0) >= 2 and c.get("update_failed", 0) == 0, c
    finally:
        testnet_sides.down(tmp_path, out=io.StringIO())
