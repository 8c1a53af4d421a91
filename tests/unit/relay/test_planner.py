"""The relayer's planner: a pure function of both chains' state, so a restarted or a second
relayer plans the same, and nothing already landed is planned again."""

from __future__ import annotations

import pytest

from chainnode.relay.planner import (
    Ack,
    ChainView,
    ClientView,
    Heartbeat,
    PendingPacket,
    Policy,
    Recv,
    UpdateClient,
    plan,
    update_path,
)

NOW = 1_800_000_000_000
PERIOD = 600_000


def client(of: str, h: int, status: str = "active", updated: int = NOW - 1_000) -> ClientView:
    return ClientView(of, status, h, NOW - 5_000 + h, updated, PERIOD)


def packets(src: str, dst: str, *seqs: int) -> tuple[PendingPacket, ...]:
    return tuple(PendingPacket(s, [src, "c", dst, "d", "m", {}, s, 0], 0) for s in seqs)


def view(cid: str, h: int, c: ClientView | None, recv_next: int = 1, pending=()) -> ChainView:
    return ChainView(cid, h, NOW - 5_000 + h, c, recv_next, tuple(pending))


def test_nothing_to_do_when_idle_and_clients_fresh():
    p = plan(view("main", 10, client("edge", 7)), view("edge", 7, client("main", 10)), NOW)
    assert p.updates == () and p.relays == () and p.blocked == ()
    assert [(d.src, d.dst, d.lag_blocks) for d in p.directions] == [("main", "edge", 0),
                                                                  ("edge", "main", 0)]


def test_pending_packets_need_a_header_at_least_as_new_as_where_they_were_seen():
    main = view("main", 10, client("edge", 7), pending=packets("main", "edge", 1, 2, 3))
    edge = view("edge", 7, client("main", 8))
    p = plan(main, edge, NOW)
    assert p.updates == (UpdateClient("edge", "main", 10, "packets"),)
    (r,) = p.relays
    assert isinstance(r, Recv) and r.on == "edge" and r.min_height == 10
    assert [x.sequence for x in r.packets] == [1, 2, 3]
    d = p.directions[0]
    assert (d.lag_blocks, d.to_receive, d.to_acknowledge) == (2, 3, 0)


def test_received_packets_are_not_relayed_again_but_acknowledged():
    main = view("main", 12, client("edge", 5), pending=packets("main", "edge", 1, 2, 3, 4))
    edge = view("edge", 9, client("main", 12), recv_next=3)
    p = plan(main, edge, NOW)
    recv = [r for r in p.relays if isinstance(r, Recv)]
    ack = [r for r in p.relays if isinstance(r, Ack)]
    assert [x.sequence for x in recv[0].packets] == [3, 4]
    assert ack[0].on == "main" and [x.sequence for x in ack[0].packets] == [1, 2]
    assert ack[0].min_height == 9
    assert UpdateClient("main", "edge", 9, "acks") in p.updates
    assert not any(isinstance(u, UpdateClient) and u.on == "edge" for u in p.updates)


def test_batches_are_bounded_and_contiguous():
    main = view("main", 10, client("edge", 7), pending=packets("main", "edge", *range(1, 40)))
    p = plan(main, view("edge", 7, client("main", 10)), NOW, Policy(batch=5))
    assert [x.sequence for x in p.relays[0].packets] == [1, 2, 3, 4, 5]


def test_frozen_or_missing_client_blocks_its_direction_only():
    main = view("main", 10, client("edge", 7, status="frozen"),
                pending=packets("main", "edge", 1))
    edge = view("edge", 7, client("main", 10), pending=packets("edge", "main", 1))
    p = plan(main, edge, NOW)
    assert [type(r) for r in p.relays] == [Recv]  # main -> edge still moves
    assert p.relays[0].on == "edge"
    assert any("frozen" in b for b in p.blocked)
    p2 = plan(view("main", 10, None), view("edge", 7, client("main", 10)), NOW)
    assert any("create-client" in b for b in p2.blocked)


def test_refresh_before_expiry_and_heartbeat_when_the_other_chain_is_idle():
    old = NOW - PERIOD // 2
    main = view("main", 10, client("edge", 7, updated=old))
    edge = view("edge", 7, client("main", 9, updated=old))
    p = plan(main, edge, NOW)
    assert UpdateClient("edge", "main", 10, "refresh") in p.updates
    assert any(isinstance(u, Heartbeat) and u.chain == "edge" for u in p.updates)
    fresh = plan(main, edge, NOW, Policy(refresh_fraction=0.9))
    assert fresh.updates == ()


def test_channels_limit_packet_directions():
    main = view("main", 10, client("edge", 7), pending=packets("main", "edge", 1))
    edge = view("edge", 7, client("main", 10), pending=packets("edge", "main", 1))
    p = plan(main, edge, NOW, channels=(("edge", "main"),))
    assert [(r.on, r.of) for r in p.relays] == [("main", "edge")]


def test_same_observation_same_plan():
    main = view("main", 10, client("edge", 7), pending=packets("main", "edge", 1, 2))
    edge = view("edge", 7, client("main", 3), recv_next=2)
    assert plan(main, edge, NOW) == plan(main, edge, NOW)


def test_update_path_follows_every_validator_set_change():
    # set A signs 1..5, header 5 announces B; B signs 6..12, header 12 announces C; C signs 13..
    vh = {h: "A" if h <= 5 else "B" if h <= 12 else "C" for h in range(1, 30)}
    nh = {h: vh.get(h + 1, vh[h]) for h in vh}
    assert update_path(2, "A", 20, vh.__getitem__, nh.__getitem__) == [5, 12, 20]
    assert update_path(5, "B", 9, vh.__getitem__, nh.__getitem__) == [9]
    with pytest.raises(ValueError):
        update_path(2, "Z", 20, vh.__getitem__, nh.__getitem__)
