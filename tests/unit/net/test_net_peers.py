"""PeerManager over real TCP + TLS on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

import pytest

from chainnode.net.testing import wait_until


def addr(mgr):
    return ("127.0.0.1", mgr.listen_port)


async def mesh(cluster, n=3, **kw):
    nodes = [await cluster.node(f"v{i}", **kw) for i in range(n)]
    for i, (m, _) in enumerate(nodes):
        for j, (other, _) in enumerate(nodes):
            if i != j:
                m.add_peer(*addr(other))
    await wait_until(lambda: all(len(m.connected()) == n - 1 for m, _ in nodes))
    return nodes


async def test_three_node_mesh_exchanges_messages_both_ways(cluster):
    nodes = await mesh(cluster)
    keys = [m.public_key for m, _ in nodes]
    for i, (m, _) in enumerate(nodes):
        assert sorted(m.connected()) == sorted(k for k in keys if k != keys[i])
        assert all(m.peer_role(k) == "validator" for k in m.connected())
    for i, (m, _) in enumerate(nodes):
        for j in range(3):
            if i != j:
                assert await m.send(keys[j], "msg", {"from": i, "to": j})
    for i, (m, _) in enumerate(nodes):
        assert await m.broadcast("vote", [i, b"\x00" * 10]) == 2

    def all_arrived():
        return all(len(rec.messages) == 4 for _, rec in nodes)

    await nodes[0][1].wait(all_arrived)
    for j, (_, rec) in enumerate(nodes):
        direct = sorted((keys.index(p), pl["from"]) for p, t, pl in rec.messages if t == "msg")
        assert direct == sorted((i, i) for i in range(3) if i != j)
        votes = sorted((keys.index(p), pl[0]) for p, t, pl in rec.messages if t == "vote")
        assert votes == sorted((i, i) for i in range(3) if i != j)
        assert all(pl["to"] == j for _, t, pl in rec.messages if t == "msg")
    # exactly one link per pair, seen by the application as one connect and no disconnects
    for m, rec in nodes:
        assert sorted(p for p, _ in rec.connects) == sorted(m.connected())
        assert rec.disconnects == []
        assert len(m.peer_info()) == 2


async def test_simultaneous_dials_converge_on_one_link(cluster):
    (a, ra), (b, rb) = [await cluster.node(n) for n in ("a", "b")]
    a.add_peer(*addr(b))
    b.add_peer(*addr(a))
    await wait_until(lambda: a.connected() and b.connected())
    # both sides keep the link initiated by the lower public key
    lower = min(a.public_key, b.public_key)
    def settled(m):
        peers = list(m._peers.values())
        return (len(peers) == 1 and peers[0].conn is not None
                and peers[0].conn.initiator == lower and not peers[0].conn.closing.is_set())

    await wait_until(lambda: settled(a) and settled(b))
    assert len(ra.connects) == 1 and len(rb.connects) == 1
    assert await a.send(b.public_key, "msg", 1)
    await rb.wait(lambda: rb.messages)


async def test_unauthorised_key_cannot_connect(cluster, caplog):
    a, ra = await cluster.node("a")
    x, rx = await cluster.node("intruder", authorise=False, peers=[addr(a)])
    await wait_until(lambda: "not-authorised" in caplog.text)
    await asyncio.sleep(0)  # let both sides finish logging
    assert a.connected() == [] and x.connected() == []
    assert ra.connects == []
    rejected = [r for r in caplog.records if "rejected inbound peer" in r.getMessage()]
    assert rejected and "not-authorised" in rejected[0].getMessage()
    assert x.public_key[:8].hex() in rejected[0].getMessage()
    # the intruder's side is told why
    await wait_until(lambda: "rejected-by-peer: not-authorised" in caplog.text)


async def test_wrong_chain_id_rejected(cluster, caplog):
    a, _ = await cluster.node("a")
    x, _ = await cluster.node("other-chain", peers=[addr(a)], chain_id="another-chain")
    await wait_until(lambda: "wrong-chain" in caplog.text)
    assert a.connected() == [] and x.connected() == []
    assert "another-chain" in caplog.text


async def test_wrong_genesis_rejected(cluster, caplog):
    a, _ = await cluster.node("a")
    x, _ = await cluster.node("fork", peers=[addr(a)], genesis_hash=b"\x02" * 32)
    await wait_until(lambda: "wrong-genesis" in caplog.text)
    assert a.connected() == [] and x.connected() == []


async def test_restarted_peer_on_same_port_is_reconnected(cluster):
    a, ra = await cluster.node("a")
    ident_b = cluster.pki.identity("b")
    b, rb = await cluster.node("b", identity=ident_b, peers=[addr(a)])
    port_b = b.listen_port
    a.add_peer("127.0.0.1", port_b)
    await ra.wait(lambda: a.connected() == [b.public_key])
    await b.stop()
    # (a link still in its handshake when b stopped may come and go: wait for quiet)
    await ra.wait(lambda: ra.disconnects and len(ra.disconnects) == len(ra.connects))
    assert a.connected() == []
    before = len(ra.connects)
    # same identity, same port, fresh process state; it does not dial: a must redial it
    b2, rb2 = await cluster.node("b", identity=ident_b, port=port_b)
    await ra.wait(lambda: len(ra.connects) > before and a.connected() == [b2.public_key])
    await rb2.wait(lambda: b2.connected() == [a.public_key])
    assert await b2.send(a.public_key, "msg", "after restart")
    await ra.wait(lambda: any(p == "after restart" for _, _, p in ra.messages))
    assert await a.send(b2.public_key, "msg", "welcome back")
    await rb2.wait(lambda: rb2.messages)


async def test_misbehaving_peer_is_banned_then_readmitted(cluster, caplog):
    a, ra = await cluster.node("a")
    b, rb = await cluster.node("b", peers=[addr(a)])
    await ra.wait(lambda: a.connected() == [b.public_key])
    length = a.report_misbehaviour(b.public_key, "invalid vote signature")
    assert length == pytest.approx(1.0)
    await ra.wait(lambda: len(ra.disconnects) == 1)
    assert "misbehaviour: invalid vote signature" in ra.disconnects[0][1]
    await rb.wait(lambda: rb.disconnects)
    # b learns why and its redials are refused while the ban lasts
    await wait_until(lambda: "banned for" in caplog.text)
    assert a.ban_remaining(b.public_key) > 0
    await wait_until(lambda: "rejected-by-peer: banned" in caplog.text, timeout=3)
    # after the ban, the link comes back
    await ra.wait(lambda: a.connected() == [b.public_key], timeout=8)
    # a second offence doubles the ban
    assert a.report_misbehaviour(b.public_key, "again") == pytest.approx(2.0)


async def test_slow_peer_overflowing_its_queue_is_disconnected(cluster, caplog):
    from chainnode.net.testing import fast_limits

    lim = fast_limits()
    import dataclasses

    a, ra = await cluster.node("a", limits=dataclasses.replace(lim, send_queue_frames=8))
    b, rb = await cluster.node("b", peers=[addr(a)])
    await ra.wait(lambda: a.connected() == [b.public_key])
    # no await in between: the writer never runs, so the queue must hit its bound
    results = []
    for _ in range(20):
        results.append(await a.send(b.public_key, "blob", b"x" * 1000))
        if len(results) == 8:
            frames, size = a.pending(b.public_key)
            assert frames == 8 and size > 8000
    assert results[:8] == [True] * 8 and not any(results[8:])
    assert a.pending(b.public_key) == (0, 0)  # dropped with the peer
    await ra.wait(lambda: ra.disconnects)
    assert "send queue full" in ra.disconnects[0][1]
    assert "too slow" in caplog.text
    # not a ban: the link is re-established
    assert a.ban_remaining(b.public_key) == 0
    await ra.wait(lambda: a.connected() == [b.public_key])


async def test_observer_connects_and_role_filters_broadcast(cluster):
    v0, r0 = await cluster.node("v0")
    v1, r1 = await cluster.node("v1", peers=[addr(v0)])
    o, ro = await cluster.node("obs", role="observer", port=None,
                               peers=[addr(v0), addr(v1)])
    await wait_until(lambda: len(o.connected()) == 2 and len(v0.connected()) == 2)
    assert v0.peer_role(o.public_key) == "observer"
    assert o.peer_role(v0.public_key) == "validator"
    assert v0.connected(role="validator") == [v1.public_key]
    assert await v0.broadcast("vote", 1, role="validator") == 1
    assert await v0.broadcast("msg", "block", role="observer") == 1
    await ro.wait(lambda: ro.messages)
    await r1.wait(lambda: r1.messages)
    assert [t for _, t, _ in ro.messages] == ["msg"]
    assert [t for _, t, _ in r1.messages] == ["vote"]


async def test_observer_claiming_validator_role_is_admitted_as_observer(cluster, caplog):
    """A member whose own (stale) head says validator, e.g. voted out while it was down,
    links as an observer and is never banned for the claim: it can sync and learn of the
    change, but validator-only traffic neither goes to it nor counts as a validator's."""
    v0, r0 = await cluster.node("v0")
    v1, _ = await cluster.node("v1", peers=[addr(v0)])
    o, ro = await cluster.node("obs2", role="validator", port=None,
                               peers=[addr(v0), addr(v1)], authorise=False)
    cluster.allowed[o.public_key] = "observer"
    await wait_until(lambda: len(v0.connected()) == 2 and len(o.connected()) == 2)
    assert "admitted as observer" in caplog.text
    assert v0.peer_role(o.public_key) == "observer" and v0.ban_remaining(o.public_key) == 0
    assert v0.connected(role="validator") == [v1.public_key]
    assert await v0.broadcast("vote", 1, role="validator") == 1  # to v1 only
    assert await v0.broadcast("msg", "block", role="observer") == 1
    await ro.wait(lambda: ro.messages)
    assert [t for _, t, _ in ro.messages] == ["msg"]


async def test_own_address_in_peer_list_is_harmless(cluster, caplog):
    a, _ = await cluster.node("a")
    b, _ = await cluster.node("b", peers=[addr(a)])
    a.add_peer(*addr(a))  # skipped: it is our listen address
    a.add_peer("localhost", a.listen_port)  # same node under another name
    await wait_until(lambda: "is this node itself" in caplog.text)
    assert a.connected() == [b.public_key]


async def test_unknown_type_and_oversize_refused_on_send(cluster):
    a, _ = await cluster.node("a", max_frame=1024)
    with pytest.raises(ValueError):
        await a.send(b"\x00" * 64, "not-registered", 1)
    from chainnode.net.framing import FrameTooLarge

    with pytest.raises(FrameTooLarge):
        await a.broadcast("blob", b"x" * 2048)
    assert await a.send(b"\x00" * 64, "msg", 1) is False  # not connected


async def test_registry_may_not_use_net_namespace(cluster):
    with pytest.raises(ValueError):
        await cluster.node("bad", message_types=("net/ping",), start=False)


@pytest.mark.serial  # a wall-clock bound (tests/conftest.py)
async def test_stop_is_bounded_and_peers_see_it(cluster):
    nodes = await mesh(cluster)
    (a, _), (b, rb), (c, rc) = nodes
    t0 = time.monotonic()
    await a.stop()
    assert time.monotonic() - t0 < 5
    await rb.wait(lambda: rb.disconnects and rc.disconnects)
    assert "shutting down" in rb.disconnects[0][1]
    assert b.connected() == [c.public_key]
    await a.stop()  # idempotent


@pytest.mark.serial  # 0.1 s pings against a 0.5 s idle timeout (tests/conftest.py)
async def test_idle_link_survives_on_pings(cluster):
    import dataclasses

    from chainnode.net.testing import fast_limits

    lim = dataclasses.replace(fast_limits(), ping_interval=0.1, idle_timeout=0.5)
    a, ra = await cluster.node("a", limits=lim)
    b, rb = await cluster.node("b", peers=[addr(a)], limits=lim)
    await ra.wait(lambda: a.connected() == [b.public_key])
    t0 = time.monotonic()
    # several idle timeouts pass with no application traffic
    await wait_until(lambda: time.monotonic() - t0 > 1.5, timeout=3)
    assert ra.disconnects == [] and rb.disconnects == []
    assert a.connected() == [b.public_key]


async def test_regrant_promotes_demotes_and_drops_on_a_set_change(cluster):
    """A validator-set change: the observer's link becomes a validator link (broadcasts to
    validators reach it), a removed validator that is still a member becomes an observer
    link, and a key that is neither any more is disconnected."""
    v0, r0 = await cluster.node("v0")
    v1, _ = await cluster.node("v1", peers=[addr(v0)])
    v2, _ = await cluster.node("v2", peers=[addr(v0)])
    o, ro = await cluster.node("obs", role="observer", port=None, peers=[addr(v0)])
    await wait_until(lambda: len(v0.connected()) == 3)
    grants = {o.public_key: "validator", v1.public_key: "observer", v2.public_key: None}
    v0.regrant(lambda pub: grants.get(pub, "validator"))
    await wait_until(lambda: v2.public_key not in v0.connected())
    assert v0.peer_role(o.public_key) == "validator"
    assert v0.peer_role(v1.public_key) == "observer"
    assert await v0.broadcast("vote", 7, role="validator") == 1
    await ro.wait(lambda: any(t == "vote" for _, t, _ in ro.messages))
