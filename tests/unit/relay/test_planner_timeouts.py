"""The planner's timeouts: a packet the destination has not received although it is at or past
the packet's timeout height is proven timed out on the source (non-receipt), and is still
handed to the destination so its ordered channel moves past it."""

from __future__ import annotations

from test_planner import NOW, client, view

from chainnode.relay.planner import (
    Ack,
    PendingPacket,
    Policy,
    Recv,
    Timeout,
    UpdateClient,
    plan,
    timed_out,
)


def pkt(seq: int, timeout: int, settled: bool = False, src: str = "main",
        dst: str = "edge") -> PendingPacket:
    return PendingPacket(seq, [src, "c", dst, "d", "m", {}, seq, timeout], timeout, settled)


def kinds(p, kind):
    return [r for r in p.relays if isinstance(r, kind)]


def test_unreceived_packet_past_its_timeout_is_proven_on_the_source():
    main = view("main", 10, client("edge", 6), pending=(pkt(1, 8), pkt(2, 50), pkt(3, 0)))
    edge = view("edge", 9, client("main", 10))  # at 9 >= 8: packet 1 can no longer land
    p = plan(main, edge, NOW)
    (t,) = kinds(p, Timeout)
    assert (t.on, t.of, [x.sequence for x in t.packets], t.min_height) == ("main", "edge",
                                                                          [1], 8)
    # main's client of edge (at 6) must reach a height >= 8 first: edge's head
    assert UpdateClient("main", "edge", 9, "timeouts") in p.updates
    # all three are still handed to edge, in order (1 becomes a timeout ack there)
    assert [x.sequence for x in kinds(p, Recv)[0].packets] == [1, 2, 3]
    assert p.relays.index(t) < p.relays.index(kinds(p, Recv)[0])  # before it can land


def test_no_timeout_before_the_height_nor_once_received_or_settled():
    main = view("main", 10, client("edge", 9), pending=(pkt(1, 8), pkt(2, 9, settled=True)))
    assert timed_out(main, view("edge", 7, client("main", 10))) == ()  # not yet at 8
    received = view("edge", 9, client("main", 10), recv_next=2)
    assert [x.sequence for x in timed_out(main, received)] == []  # 1 received; 2 settled
    p = plan(main, received, NOW)
    assert kinds(p, Timeout) == []
    # the settled one is not acknowledged again but still delivered (as a timeout ack)
    assert [x.sequence for x in kinds(p, Recv)[0].packets] == [2]
    assert [x.sequence for x in kinds(p, Ack)[0].packets] == [1]
    assert not any(isinstance(u, UpdateClient) and u.reason == "timeouts" for u in p.updates)


def test_client_high_enough_needs_no_update_and_a_frozen_one_blocks_only_timeouts():
    main = view("main", 20, client("edge", 12), pending=(pkt(1, 11), pkt(2, 12)))
    edge = view("edge", 12, client("main", 20))
    p = plan(main, edge, NOW, Policy(batch=1))
    (t,) = kinds(p, Timeout)
    assert [x.sequence for x in t.packets] == [1] and t.min_height == 11
    assert p.updates == ()
    frozen = view("main", 20, client("edge", 12, status="frozen"), pending=main.pending)
    p2 = plan(frozen, edge, NOW)
    assert kinds(p2, Timeout) == [] and len(kinds(p2, Recv)) == 1
    # the same observation always gives the same plan (another relayer agrees)
    assert plan(main, edge, NOW) == plan(main, edge, NOW)
