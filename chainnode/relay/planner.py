"""What a relayer should submit next, decided from what both chains say (sans-IO).

The relayer keeps no state of its own: every round it observes both chains (heads, the light
client each keeps of the other, pending packets, received sequences) and this module turns
that observation into actions. Because the decision depends only on chain state, a restarted
relayer, or a second one running at the same time, reaches the same plan; whatever already
landed is skipped here or is a no-op on the chain (ALREADY_RECEIVED / ALREADY_SETTLED).

Rounds have two phases so a relayed item never names a height the client does not hold yet:
phase 1 updates clients (or makes an idle chain commit a block so it has a fresh header to
offer), phase 2 relays packets and acknowledgements proven at the client's latest height,
re-read after phase 1 (so a client another relayer moved further is just as good).

A packet the destination has not received by its timeout height is proven timed out on the
source (Timeout: the destination's non-receipt at an anchored height >= the timeout), and is
still handed to the destination (it records a timeout acknowledgement, delivers nothing, and
its ordered channel moves past it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACTIVE = "active"


@dataclass(frozen=True)
class ClientView:
    """The light client one chain keeps of the other, as /anchor/clients reports it."""

    chain_id: str  # the chain it tracks
    status: str  # active | expired | frozen
    latest_height: int
    latest_time_ms: int
    updated_at_ms: int  # host BFT time of its last update
    trusting_period_ms: int


@dataclass(frozen=True)
class PendingPacket:
    sequence: int
    packet: list  # wire form, as sys.anchor stores it
    timeout_height: int
    settled: bool = False  # proven timed out on the source; the destination must still take it


@dataclass(frozen=True)
class ChainView:
    """One chain as seen in one round, with respect to its peer chain."""

    chain_id: str
    height: int
    time_ms: int  # timestamp of the head block
    client: ClientView | None  # its client of the peer (None: not created yet)
    recv_next: int  # next sequence it expects from the peer
    pending: tuple[PendingPacket, ...]  # packets it sent to the peer still awaiting an ack


@dataclass(frozen=True)
class Policy:
    batch: int = 50  # packets (and, separately, acks) relayed per direction per round
    refresh_fraction: float = 1 / 3  # update a client once this much of its period has passed


@dataclass(frozen=True)
class UpdateClient:
    on: str  # chain that holds the client
    of: str  # chain whose header is submitted
    height: int  # target height (the I/O layer inserts validator-set-change headers first)
    reason: str  # "packets" | "acks" | "refresh"


@dataclass(frozen=True)
class Heartbeat:
    """Make an idle chain commit a block, so it has a header newer than the client's."""

    chain: str
    reason: str


@dataclass(frozen=True)
class Recv:
    on: str  # destination
    of: str  # source
    packets: tuple[PendingPacket, ...]  # in sequence order
    min_height: int  # the source height the proofs must be at or above


@dataclass(frozen=True)
class Ack:
    on: str  # source of the packets (it accepts the acknowledgements)
    of: str  # destination, where the acks are stored
    packets: tuple[PendingPacket, ...]
    min_height: int


@dataclass(frozen=True)
class Timeout:
    """Prove on the source that the destination, at a height >= each packet's timeout, holds
    no acknowledgement of it (sys.anchor.timeout); the sending contract is called back."""

    on: str  # source of the packets
    of: str  # destination, whose anchored header proves the absence
    packets: tuple[PendingPacket, ...]
    min_height: int  # the destination height the proofs must be at or above


@dataclass(frozen=True)
class Direction:
    """Figures for one direction src -> dst (metrics and status)."""

    src: str
    dst: str
    lag_blocks: int  # src head - the src height dst's client trusts
    lag_seconds: float  # src head time - the trusted header's time
    to_receive: int  # packets dst has not received yet
    to_acknowledge: int  # packets received on dst whose ack src has not accepted
    client_status: str
    client_updated_at_ms: int


@dataclass(frozen=True)
class Plan:
    updates: tuple[UpdateClient | Heartbeat, ...] = ()
    relays: tuple[Recv | Ack | Timeout, ...] = ()
    directions: tuple[Direction, ...] = field(default=())
    blocked: tuple[str, ...] = ()  # human-readable reasons a direction cannot move


def _direction(src: ChainView, dst: ChainView) -> Direction:
    c = dst.client
    received = [p for p in src.pending if p.sequence < dst.recv_next and not p.settled]
    return Direction(
        src.chain_id, dst.chain_id,
        lag_blocks=max(src.height - c.latest_height, 0) if c else src.height,
        lag_seconds=max(src.time_ms - c.latest_time_ms, 0) / 1000 if c else 0.0,
        to_receive=sum(p.sequence >= dst.recv_next for p in src.pending),
        to_acknowledge=len(received),
        client_status=c.status if c else "missing",
        client_updated_at_ms=c.updated_at_ms if c else 0)


def plan(a: ChainView, b: ChainView, now_ms: int, policy: Policy = Policy(),
         channels: tuple[tuple[str, str], ...] | None = None) -> Plan:
    """Decide one round. `channels` limits which directions (src, dst) carry packets; both
    clients are kept fresh whatever it says. `now_ms` is the relayer's wall clock."""
    want = channels if channels is not None else ((a.chain_id, b.chain_id),
                                                  (b.chain_id, a.chain_id))
    updates: dict[tuple[str, str], UpdateClient | Heartbeat] = {}
    relays: list[Recv | Ack | Timeout] = []
    blocked: list[str] = []

    def need_update(on: ChainView, of: ChainView, height: int, reason: str) -> None:
        key = (on.chain_id, of.chain_id)
        prev = updates.get(key)
        if isinstance(prev, UpdateClient) and prev.height >= height:
            return
        updates[key] = UpdateClient(on.chain_id, of.chain_id, height, reason)

    usable = {}
    for on, of in ((a, b), (b, a)):
        c = on.client
        if c is None:
            blocked.append(f"{on.chain_id} has no client of {of.chain_id} (create it by a "
                           "governance create-client proposal)")
        elif c.status != ACTIVE:
            blocked.append(f"{on.chain_id}'s client of {of.chain_id} is {c.status} (only a "
                           "governance recover-client proposal can revive it)")
        usable[on.chain_id] = c is not None and c.status == ACTIVE

    for src, dst in ((a, b), (b, a)):
        if (src.chain_id, dst.chain_id) not in want:
            continue
        to_recv = tuple(p for p in src.pending if p.sequence >= dst.recv_next)[:policy.batch]
        to_ack = tuple(p for p in src.pending
                       if p.sequence < dst.recv_next and not p.settled)[:policy.batch]
        expired = timed_out(src, dst)[:policy.batch]
        if expired and usable[src.chain_id]:  # before the recv below can land an ack
            assert src.client is not None
            need = max(p.timeout_height for p in expired)
            if src.client.latest_height < need:  # absence proven at a height >= timeouts
                need_update(src, dst, dst.height, "timeouts")
            relays.append(Timeout(src.chain_id, dst.chain_id, expired, need))
        if to_recv and usable[dst.chain_id]:
            assert dst.client is not None
            if dst.client.latest_height < src.height:  # commitments seen at src.height
                need_update(dst, src, src.height, "packets")
            relays.append(Recv(dst.chain_id, src.chain_id, to_recv, src.height))
        if to_ack and usable[src.chain_id]:
            assert src.client is not None
            if src.client.latest_height < dst.height:  # acks seen at dst.height
                need_update(src, dst, dst.height, "acks")
            relays.append(Ack(src.chain_id, dst.chain_id, to_ack, dst.height))

    beats: dict[str, Heartbeat] = {}
    for on, of in ((a, b), (b, a)):
        c = on.client
        if not usable[on.chain_id] or (on.chain_id, of.chain_id) in updates:
            continue
        assert c is not None
        if now_ms - c.updated_at_ms < policy.refresh_fraction * c.trusting_period_ms:
            continue
        if of.height > c.latest_height:
            need_update(on, of, of.height, "refresh")
        else:  # nothing newer to offer: make `of` commit a block, update next round
            beats[of.chain_id] = Heartbeat(of.chain_id, f"{on.chain_id}'s client of it is "
                                           "due for a refresh and it has no newer block")
    return Plan(tuple(updates.values()) + tuple(beats.values()), tuple(relays),
                (_direction(a, b), _direction(b, a)), tuple(blocked))


def timed_out(src: ChainView, dst: ChainView) -> tuple[PendingPacket, ...]:
    """Packets src sent, not yet settled, that dst has not received although dst is at or
    past their timeout height: src can settle them on proof of dst's non-receipt. Each has its
    own timeout, so they need not be contiguous."""
    return tuple(p for p in src.pending
                 if not p.settled and p.sequence >= dst.recv_next and p.timeout_height
                 and dst.height >= p.timeout_height)


def update_path(trusted_height: int, trusted_next: str, target: int,
                validators_hash_at, next_hash_at) -> list[int]:
    """Heights to submit, in order, to move a client from `trusted_height` to `target`.

    The client accepts a header only if the set that signed it is the one it trusts, so every
    header where the other chain's set changes must be relayed first. `validators_hash_at(h)`
    and `next_hash_at(h)` read header h's two set hashes; a binary search finds each change
    (O(log n) header reads per change)."""
    steps: list[int] = []
    low, trusted = trusted_height, trusted_next
    while validators_hash_at(target) != trusted:
        lo, hi = low + 1, target  # the first height not signed by `trusted` is in (low, hi]
        while lo < hi:
            mid = (lo + hi) // 2
            if validators_hash_at(mid) != trusted:
                hi = mid
            else:
                lo = mid + 1
        step = lo - 1  # signed by `trusted`, announces the next set
        if step <= low:
            raise ValueError(f"height {lo} is signed by a set that no relayed header "
                             "announced; the client cannot follow it")
        steps.append(step)
        low, trusted = step, next_hash_at(step)
    steps.append(target)
    return steps
