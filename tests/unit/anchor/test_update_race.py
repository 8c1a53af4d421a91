"""Two relayers updating one client to different heights at once: the lower update, landing
after the higher one, is a successful no-op (ANCHOR_ALREADY_UPDATED) when it agrees with what
the client anchored, and refused (ANCHOR_CONFLICTING_HEADER) when it does not."""

from __future__ import annotations

import dataclasses

import pytest
from two_chains import ANCHOR, Clock, Net, create_client, failed, ok, update

from chainnode.anchor import errors as E


@pytest.fixture
def pair(tmp_path):
    clock = Clock()
    main = Net(tmp_path, "main", 1, 21_000, clock)
    edge = Net(tmp_path, "edge-1", 1, 22_000, clock)
    edge.block()
    create_client(main, edge)
    yield main, edge
    main.close()
    edge.close()


def forged_update(main: Net, edge: Net, h: int, **changes):
    header = dataclasses.replace(edge.header(h), **changes)
    return main.send(main.relayer, ANCHOR, "update",
                     {"chain_id": edge.chain_id, "header": header.to_wire(),
                      "certificate": edge.cert(h).to_wire(), "validators": None})


def test_lower_update_after_higher_is_a_noop(pair):
    main, edge = pair
    for _ in range(4):
        edge.block()
    low, high = edge.height - 2, edge.height
    ok(update(main, edge, high))  # relayer A's update lands first
    rc = ok(update(main, edge, low))  # relayer B's, built before it saw A's
    assert rc.value["result"] == E.ALREADY_UPDATED
    assert rc.value["latest_height"] == high and rc.events == ()
    client = main.view("client", chain_id="edge-1")
    assert client["latest_height"] == high and low not in client["heights"]
    assert main.view("consensus", chain_id="edge-1", height=low) is None
    # the same header at an anchored height is the older no-op ("known")
    assert ok(update(main, edge, high)).value["result"] == "known"


def test_conflicting_older_headers_are_refused(pair):
    main, edge = pair
    for _ in range(4):
        edge.block()
    top = edge.height
    mid = top - 2
    ok(update(main, edge, mid))
    ok(update(main, edge, top))
    before = main.view("client", chain_id="edge-1")
    # another header at an anchored height: refused, never accepted nor silently dropped
    failed(forged_update(main, edge, mid, state_root=b"\x11" * 32), E.CONFLICTING_HEADER)
    # right above an anchored header but not extending it
    failed(forged_update(main, edge, mid + 1, prev_hash=b"\x22" * 32), E.CONFLICTING_HEADER)
    # times out of order with the anchored neighbours
    below = main.view("consensus", chain_id="edge-1", height=mid)["time_ms"]
    failed(forged_update(main, edge, mid + 1, timestamp_ms=below), E.CONFLICTING_HEADER)
    after = main.view("consensus", chain_id="edge-1", height=top)["time_ms"]
    failed(forged_update(main, edge, top - 1, timestamp_ms=after), E.CONFLICTING_HEADER)
    # another chain's header is still refused as such
    failed(forged_update(main, edge, mid + 1, chain_id="edge-9"), E.WRONG_CHAIN)
    assert main.view("client", chain_id="edge-1") == before  # nothing changed, not frozen
    # the consistent one in between is the no-op
    assert ok(update(main, edge, mid + 1)).value["result"] == E.ALREADY_UPDATED
