"""Query pieces in isolation (issue 8, deliverable 7): the VM's wall-clock deadline for
read-only calls, the query signing domain, the replay guard and the in-flight gate."""

from __future__ import annotations

import threading
import time

import pytest

from chainnode.core.query import QueryAuthError, parse_auth, sign_query, signing_payload
from chainnode.core.tx import build_tx
from chainnode.crypto import domain
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.rpc.querygate import QueryGate, QueryLimits, ReplayGuard
from chainnode.vm.machine import execute
from chainnode.vm.memhost import MemoryHost

SPIN = "@view\ndef spin():\n    n = 0\n    while True:\n        n = n + 1\n\n\n" \
       "@export\ndef w():\n    return 1\n"


def spin_host() -> MemoryHost:
    h = MemoryHost()
    h.deploy("s", SPIN)
    return h


@pytest.mark.serial  # a wall-clock bound (tests/conftest.py)
def test_deadline_cuts_a_read_only_call_that_gas_would_let_run():
    h = spin_host()
    t0 = time.monotonic()
    r = execute(h.contracts["s"], "spin", {}, h.context(""), h, 10**12, readonly=True,
                deadline=time.monotonic() + 0.2)
    assert (r.ok, r.error_code) == (False, "QUERY_TIMEOUT")
    assert 0 < r.gas_used < 10**12
    assert time.monotonic() - t0 < 5


def test_a_query_whose_deadline_passed_in_the_queue_does_not_start():
    h = spin_host()
    r = execute(h.contracts["s"], "spin", {}, h.context(""), h, 10**12, readonly=True,
                deadline=time.monotonic() - 1)
    assert r.error_code == "QUERY_TIMEOUT" and r.gas_used == 0  # nothing ran


def test_transactions_never_take_a_deadline():
    h = spin_host()
    r = execute(h.contracts["s"], "w", {}, h.context("a"), h, 1000, deadline=time.monotonic())
    assert r.error_code == "VM_BAD_ARGS"


def test_query_signatures_live_in_their_own_domain():
    key = PrivateKey.generate()
    auth = sign_query(key, "c1", "views", "whoami", {"a": [1, "x"]})
    sq = parse_auth(auth, "views", "whoami", {"a": [1, "x"]})
    assert sq.verify("c1") and sq.sender == address_of(key.public_key)
    assert not sq.verify("c2")
    assert not parse_auth(auth, "views", "whoami", {"a": [1, "y"]}).verify("c1")
    assert not parse_auth(auth, "views", "other", {"a": [1, "x"]}).verify("c1")
    # the same bytes signed as a transaction (or any other domain) are not a query signature
    payload = signing_payload("views", "whoami", {}, auth["time_ms"], bytes(16))
    for dom in ("tx", "commit", "handshake"):
        sig = domain.sign(key, dom, "c1", payload)
        forged = {**auth, "nonce": "00" * 16, "signature": sig.hex()}
        assert not parse_auth(forged, "views", "whoami", {}).verify("c1")
    tx = build_tx(key, "c1", "call", "views", "whoami", {}, expires_at=5)
    as_query = {**auth, "signature": tx.signature.hex()}
    assert not parse_auth(as_query, "views", "whoami", {}).verify("c1")


@pytest.mark.parametrize("auth", [None, [], {"public_key": "00"},
                                  {"public_key": "zz", "time_ms": 1, "nonce": "", "signature": ""},
                                  {"public_key": "00" * 64, "time_ms": -1, "nonce": "00" * 16,
                                   "signature": "00" * 64},
                                  {"public_key": "00" * 64, "time_ms": 1, "nonce": "00" * 15,
                                   "signature": "00" * 64}])
def test_malformed_auth_is_a_clear_error(auth):
    with pytest.raises(QueryAuthError):
        parse_auth(auth, "v", "m", {})


def test_replay_guard_accepts_once_and_forgets_only_after_the_window():
    g = ReplayGuard(window_ms=1000)
    assert g.fresh(10_000, 10_900) and not g.fresh(10_000, 11_001)
    assert g.first_use(b"s1", 10_000, 10_000)
    assert not g.first_use(b"s1", 10_000, 10_500)
    assert not g.first_use(b"s1", 10_000, 11_000)  # still inside the window: remembered
    assert g.first_use(b"s2", 11_500, 11_500)  # pruning s1 (expired at 11,000)
    assert len(g._seen) == 1
    full = ReplayGuard(window_ms=1000, max_entries=2)
    assert full.first_use(b"a", 0, 0) and full.first_use(b"b", 0, 0)
    assert not full.first_use(b"c", 0, 0)  # full: refuse rather than forget a live one


def test_gate_bounds_in_flight_and_frees_a_slot_only_when_the_worker_is_done():
    gate = QueryGate(QueryLimits(workers=1, max_inflight=2))
    release = threading.Event()
    try:
        assert gate.try_enter() and gate.try_enter()
        assert not gate.try_enter() and gate.busy_rejections == 1
        f1 = gate.submit(release.wait, 10)
        f2 = gate.submit(lambda: 7)
        assert gate.inflight == 2
        assert not gate.try_enter()
        release.set()
        assert f1.result(10) is True and f2.result(10) == 7
        deadline = time.monotonic() + 10
        while gate.inflight and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gate.inflight == 0 and gate.try_enter()
        gate.leave()
    finally:
        release.set()
        gate.close()
