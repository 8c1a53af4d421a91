"""PeerManager: authenticated, deduplicated, bounded links to the other nodes.

One manager per node. It listens for peers, dials the configured ones (validators form a full
mesh; observers dial validators), runs TLS and the SM2 handshake on every link, and then moves
framed messages between the application and the peers:

- at most one live link per peer identity: when two nodes dial each other at once, both keep
  the link initiated by the lower public key, so they always agree without talking about it;
- every peer has a bounded send queue; a peer that cannot keep up is disconnected (it will
  reconnect and resynchronise) instead of the queue growing without bound;
- garbage, oversized frames, message types outside the registry, failed handshakes and
  messages the application reports as bad disconnect the peer and ban it for a growing time
  (identity bans for authenticated peers; address bans for anything before authentication,
  except hosts of configured peers, which may share an address with honest nodes);
- lost links are redialled with capped exponential backoff and jitter;
- idle links are kept alive by pings and dropped when nothing arrives for `idle_timeout`.

`on_connect(peer, role)` fires when a peer goes from not connected to connected and
`on_disconnect(peer, reason)` on the way back. A peer's send queue belongs to the identity, not
to a link, so replacing one link by another (the dedupe above) loses nothing and fires neither:
the losing link stops taking new frames, says BYE after what it already carries, and is read
until the other side's BYE, so frames in flight on it are still delivered. Between
on_disconnect and the next on_connect, frames may have been lost: that is the signal to
resynchronise. `send` and `broadcast` enqueue: True means queued, not delivered.
`on_message` is awaited in the peer's read loop, so it should be quick (hand work to a queue);
while it runs, that peer's further messages wait, which is the backpressure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from chainnode.crypto.sm2 import PrivateKey
from chainnode.net.dialling import Dialling
from chainnode.net.framing import DEFAULT_MAX_FRAME, FrameError, encode_frame
from chainnode.net.handshake import ROLES, Authorizer, short_key
from chainnode.net.links import (  # noqa: F401 (re-exported for callers of this module)
    BYE,
    NET_TYPES,
    PING,
    PING_FRAME,
    Conn,
    NetLimits,
    OnConnect,
    OnDisconnect,
    OnMessage,
    Peer,
    PeerInfo,
    call_maybe,
    close_quietly,
    describe_exc,
)
from chainnode.net.throttle import BanBook
from chainnode.net.tls import NodeTLS

logger = logging.getLogger("chainnode.net")


class PeerManager(Dialling):
    def __init__(
        self,
        chain_id: str,
        genesis_hash: bytes,
        key: PrivateKey,
        listen_host: str | None,
        listen_port: int | None,
        peers: Iterable[tuple[str, int]],
        tls: NodeTLS,
        authorizer: Authorizer,
        on_message: OnMessage,
        max_frame: int = DEFAULT_MAX_FRAME,
        *,
        message_types: Iterable[str],
        role: str = "validator",
        on_connect: OnConnect | None = None,
        on_disconnect: OnDisconnect | None = None,
        limits: NetLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        types = frozenset(message_types)
        if any(not isinstance(t, str) or not t or t.startswith("net/") for t in types):
            raise ValueError("message types must be non-empty strings outside the net/ namespace")
        self.chain_id = chain_id
        self.genesis_hash = genesis_hash
        self.key = key
        self.public_key = key.public_key.raw
        self.role = role
        self.listen_host = listen_host
        self._listen_port = listen_port
        self.peer_addrs: list[tuple[str, int]] = list(dict.fromkeys((h, int(p)) for h, p in peers))
        self.tls = tls
        self.authorizer = authorizer
        self.on_message = on_message
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.max_frame = max_frame
        self.message_types = types
        self.limits = limits or NetLimits()
        self.clock = clock
        lim = self.limits
        self._bans = BanBook(lim.ban_base, lim.ban_cap, lim.ban_forget)
        self._peers: dict[bytes, Peer] = {}
        self._addr_keys: dict[tuple[str, int], bytes] = {}
        self._self_addrs: set[tuple[str, int]] = set()
        self._exempt: set[str] = set(lim.exempt_hosts or ())
        self._inbound = 0
        self._sock: socket.socket | None = None
        self._tasks: set[asyncio.Task] = set()
        self._dialers: dict[tuple[str, int], asyncio.Task] = {}
        self._accept_task: asyncio.Task | None = None
        self._stop_event = asyncio.Event()
        self._running = False
        self._stopping = False
        self._last_full_warning = 0.0

    # ---------------------------------------------------------------- lifecycle

    @property
    def listen_port(self) -> int | None:
        """The bound port (useful after asking for port 0)."""
        if self._sock is not None:
            return self._sock.getsockname()[1]
        return self._listen_port

    async def start(self) -> None:
        if self._running:
            raise RuntimeError("PeerManager already started")
        loop = asyncio.get_running_loop()
        if self.limits.exempt_hosts is None:
            for host, port in self.peer_addrs:
                with contextlib.suppress(OSError):
                    for info in await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM):
                        self._exempt.add(info[4][0])
        if self.listen_host is not None and self._listen_port is not None:
            self._sock = await self._bind(self.listen_host, self._listen_port)
            self._accept_task = self._spawn(self._accept_loop(self._sock), "accept")
            logger.info("listening for peers on %s:%d (chain %s, role %s, key %s…)",
                        self.listen_host, self.listen_port, self.chain_id, self.role,
                        short_key(self.public_key))
        self._running = True
        for addr in self.peer_addrs:
            self.add_peer(*addr)

    async def stop(self, timeout: float = 5.0) -> None:
        """Close everything; returns within about `timeout` seconds."""
        if self._stopping:
            return
        self._stopping = True
        self._stop_event.set()
        if self._accept_task is not None:
            self._accept_task.cancel()
            await asyncio.wait({self._accept_task}, timeout=1.0)
        if self._sock is not None:
            self._sock.close()
        for peer in list(self._peers.values()):
            self._drop_peer(peer, "node shutting down", notify="shutting down")
        tasks = set(self._tasks) | set(self._dialers.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout / 2)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=timeout / 2)
        self._running = False
        logger.info("peer manager stopped")

    def add_peer(self, host: str, port: int) -> None:
        """Dial (and keep redialling) host:port; no-op if already configured."""
        addr = (host, int(port))
        if addr not in self.peer_addrs:
            self.peer_addrs.append(addr)
        if self.limits.exempt_hosts is None:
            self._exempt.add(host)
        if not self._running or self._stopping or addr in self._dialers:
            return  # before start(): start() dials every configured address
        if self._sock is not None and addr == (self.listen_host, self.listen_port):
            return
        task = asyncio.get_running_loop().create_task(self._dial_loop(addr),
                                                      name=f"net:dial:{host}:{port}")
        task.add_done_callback(self._task_done)
        self._dialers[addr] = task

    # ---------------------------------------------------------------- public API

    def connected(self, role: str | None = None) -> list[bytes]:
        """Peers announced by on_connect and not yet by on_disconnect."""
        return [p for p, peer in self._peers.items() if role is None or peer.role == role]

    def peer_role(self, peer_pubkey: bytes) -> str | None:
        peer = self._peers.get(peer_pubkey)
        return peer.role if peer else None

    def peer_info(self) -> list[PeerInfo]:
        now = time.monotonic()
        out = []
        for peer in self._peers.values():
            c = peer.conn
            out.append(PeerInfo(peer.pub, peer.role, c.outbound if c else None,
                                c.remote if c else None, now - peer.since))
        return out

    async def send(self, peer_pubkey: bytes, msg_type: str, payload: Any) -> bool:
        """Queue one message for one peer; False if not connected or its queue is full."""
        frame = self._frame(msg_type, payload)
        peer = self._peers.get(peer_pubkey)
        return peer is not None and self._enqueue(peer, frame)

    async def broadcast(self, msg_type: str, payload: Any, role: str | None = None) -> int:
        """Queue for every connected peer (of `role`, if given); returns how many took it."""
        return self.broadcast_nowait(msg_type, payload, role)

    def broadcast_nowait(self, msg_type: str, payload: Any, role: str | None = None) -> int:
        """`broadcast` for callers outside a coroutine (a timer flushing a batch)."""
        frame = self._frame(msg_type, payload)
        return sum(self._enqueue(p, frame) for p in list(self._peers.values())
                   if role is None or p.role == role)

    def report_misbehaviour(self, peer_pubkey: bytes, reason: str) -> float:
        """The application found a bad message: disconnect and ban; returns the ban length."""
        length = self._bans.offend(("id", peer_pubkey), reason, self.clock())
        logger.warning("peer %s… misbehaved (%s): disconnecting, banned for %.0f s",
                       short_key(peer_pubkey), reason, length)
        peer = self._peers.get(peer_pubkey)
        if peer is not None:
            self._drop_peer(peer, f"misbehaviour: {reason}",
                            notify=f"banned for {length:.0f} s: {reason}")
        return length

    def disconnect(self, peer_pubkey: bytes, reason: str) -> bool:
        """Drop a peer without banning it (e.g. removed from the validator set)."""
        peer = self._peers.get(peer_pubkey)
        if peer is None:
            return False
        self._drop_peer(peer, reason, notify=reason)
        return True

    def regrant(self, authorizer: Authorizer) -> None:
        """The validator set changed: give every connected peer the role `authorizer` grants
        it now (a new validator's link carries consensus from now on); drop those it no
        longer admits. New handshakes use the new grants and our (updated) `role`."""
        self.authorizer = authorizer
        for peer in list(self._peers.values()):
            role = authorizer(peer.pub)
            if role is None:
                self._drop_peer(peer, "no longer a validator or member",
                                notify="no longer a validator or member")
            elif role != peer.role:
                logger.info("peer %s is now a %s", peer.label, role)
                peer.role = role
                if peer.conn is not None:
                    peer.conn.role = role

    def pending(self, peer_pubkey: bytes) -> tuple[int, int]:
        """(frames, bytes) queued for a peer: lets a bulk sender (sync) pace itself."""
        peer = self._peers.get(peer_pubkey)
        return (len(peer.queue), peer.queued_bytes) if peer else (0, 0)

    def ban_remaining(self, peer_pubkey: bytes) -> float:
        return self._bans.remaining(("id", peer_pubkey), self.clock())

    # ---------------------------------------------------------------- internals: queues

    def _frame(self, msg_type: str, payload: Any) -> bytes:
        if msg_type not in self.message_types:
            raise ValueError(f"message type {msg_type!r} is not in the registry")
        return encode_frame(msg_type, payload, self.max_frame)

    def _enqueue(self, peer: Peer, frame: bytes) -> bool:
        lim = self.limits
        if peer.queue and (len(peer.queue) >= lim.send_queue_frames
                           or peer.queued_bytes + len(frame) > lim.send_queue_bytes):
            logger.warning("peer %s is too slow: send queue full (%d frames, %d bytes); "
                           "disconnecting", peer.label, len(peer.queue), peer.queued_bytes)
            self._drop_peer(peer, "send queue full (slow peer)")
            return False
        peer.queue.append(frame)
        peer.queued_bytes += len(frame)
        peer.wake.set()
        return True

    def _drop_peer(self, peer: Peer, reason: str, notify: str | None = None) -> None:
        """The peer is no longer connected: close its link, drop its queue, tell the app."""
        if self._peers.get(peer.pub) is not peer:
            return
        del self._peers[peer.pub]
        peer.queue.clear()
        peer.queued_bytes = 0
        if peer.grace is not None and peer.grace is not asyncio.current_task():
            peer.grace.cancel()
        peer.grace = None
        if peer.conn is not None:
            peer.conn.request_close(reason, notify)
        peer.gone.set()
        logger.info("peer %s disconnected: %s", peer.label, reason)
        self._spawn(self._notify_disconnect(peer.pub, reason), "on_disconnect")

    async def _notify_disconnect(self, pub: bytes, reason: str) -> None:
        try:
            await call_maybe(self.on_disconnect, pub, reason)
        except Exception:
            logger.exception("on_disconnect callback failed for %s…", short_key(pub))

    # ---------------------------------------------------------------- internals: tasks

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=f"net:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("network task %s failed", task.get_name(), exc_info=task.exception())

    # ---------------------------------------------------------------- established links

    def _register(self, conn: Conn) -> bool:
        """Attach conn to its peer; returns True if the peer was not connected before."""
        peer = self._peers.get(conn.pub)
        if peer is None:
            peer = Peer(conn.pub, conn.role)
            peer.conn = conn
            self._peers[conn.pub] = peer
            return True
        old = peer.conn
        # a link silent for half the idle timeout is presumed dead (the peer host crashed
        # and came back before we noticed): it must not block the peer's new link
        stale = old is not None and (
            time.monotonic() - old.last_rx > self.limits.idle_timeout / 2)
        if old is not None and not old.closing.is_set() and not stale:
            preferred = min(self.public_key, conn.pub)
            if old.initiator == preferred and conn.initiator != preferred:
                logger.debug("duplicate link to %s: keeping the one %s initiated", conn.label,
                             "we" if preferred == self.public_key else "it")
                conn.request_close("duplicate connection", notify="duplicate connection",
                                   drain=True)
                return False
        # take the new link: the old one is gone, closing, loses the tie-break, or is stale
        if old is not None:
            old.request_close("replaced by a newer link", notify="duplicate connection",
                              drain=True)
        if peer.grace is not None:
            peer.grace.cancel()
            peer.grace = None
        peer.conn = conn
        peer.wake.set()
        return False

    async def _serve(self, conn: Conn) -> None:
        reader_t = writer_t = closing_t = None
        try:
            if self._stopping:
                conn.request_close("node shutting down", notify="shutting down")
            elif self._register(conn):
                logger.info("peer %s connected (%s, %s)", conn.label, conn.role,
                            "outbound" if conn.outbound else "inbound")
                try:
                    await call_maybe(self.on_connect, conn.pub, conn.role)
                except Exception:
                    logger.exception("on_connect callback failed for %s", conn.label)
            peer = self._peers.get(conn.pub)
            if not conn.closing.is_set() and peer is not None:
                reader_t = asyncio.create_task(self._read_loop(conn))
                writer_t = asyncio.create_task(self._write_loop(peer, conn))
                closing_t = asyncio.create_task(conn.closing.wait())
                await asyncio.wait({reader_t, writer_t, closing_t},
                                   return_when=asyncio.FIRST_COMPLETED)
                for t in (reader_t, writer_t):
                    if t.done() and not t.cancelled() and t.exception() is not None:
                        logger.error("link %s failed", conn.label, exc_info=t.exception())
                        conn.request_close(f"internal error: {t.exception()!r}")
            elif conn.drain:
                # lost the tie-break at once, but the peer may already have sent on it
                reader_t = asyncio.create_task(self._read_loop(conn))
        finally:
            conn.request_close("closed")
            await self._wind_down(conn, reader_t, writer_t, closing_t)
            peer = self._peers.get(conn.pub)
            if peer is not None and peer.conn is conn:
                peer.conn = None
                if conn.dropped_as_duplicate and not self._stopping:
                    # the peer kept a link that is still finishing its handshake here
                    peer.grace = self._spawn(self._grace_period(peer), "grace")
                else:
                    self._drop_peer(peer, conn.close_reason)
            logger.debug("link %s closed: %s", conn.label, conn.close_reason)

    async def _wind_down(self, conn: Conn, reader_t, writer_t, closing_t) -> None:
        """Stop a link's tasks; a replaced link is first read until the peer's BYE."""
        for t in (writer_t, closing_t):
            if t is not None:
                t.cancel()
        if reader_t is not None and not reader_t.done():
            if conn.drain:
                self._say_bye(conn)
                await asyncio.wait({reader_t}, timeout=self.limits.drain_timeout)
            elif conn.in_callback:
                await asyncio.wait({reader_t}, timeout=self.limits.callback_grace)
            reader_t.cancel()
        pending = [t for t in (reader_t, writer_t, closing_t) if t is not None]
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        self._say_bye(conn)
        await close_quietly(conn.writer)

    def _say_bye(self, conn: Conn) -> None:
        if conn.notify is not None and not conn.writer.transport.is_closing():
            with contextlib.suppress(Exception):
                conn.writer.write(encode_frame(BYE, {"reason": conn.notify[:200]}))
        conn.notify = None

    async def _grace_period(self, peer: Peer) -> None:
        await self._sleep(self.limits.handshake_timeout)
        if self._peers.get(peer.pub) is peer and peer.conn is None:
            self._drop_peer(peer, "the peer dropped our link as a duplicate and no other "
                                  "link arrived")

    async def _read_loop(self, conn: Conn) -> None:
        lim = self.limits
        dec = conn.decoder
        try:
            while True:
                while (msg := dec.next_message()) is not None:
                    if msg.msg_type == PING:
                        continue
                    if msg.msg_type == BYE:
                        p = msg.payload
                        why = str(p.get("reason"))[:200] if type(p) is dict else "?"
                        conn.dropped_as_duplicate = why == "duplicate connection"
                        level = logging.DEBUG if conn.dropped_as_duplicate else logging.INFO
                        logger.log(level, "peer %s closed the link: %s", conn.label, why)
                        conn.request_close(f"closed by peer: {why}")
                        return
                    conn.in_callback = True
                    try:
                        await call_maybe(self.on_message, conn.pub, msg.msg_type, msg.payload)
                    except Exception:
                        logger.exception("on_message failed for %s from %s", msg.msg_type,
                                         conn.label)
                    finally:
                        conn.in_callback = False
                    if conn.closing.is_set() and not conn.drain:
                        return
                try:
                    async with asyncio.timeout(lim.idle_timeout):
                        data = await conn.reader.read(lim.read_chunk)
                except TimeoutError:
                    conn.request_close(f"idle: nothing received for {lim.idle_timeout:g} s")
                    return
                if not data:
                    # a frame cut off by EOF is a crash or a reset, not an attack
                    cut = f" mid-frame ({dec.buffered} bytes)" if dec.buffered else ""
                    conn.request_close(f"connection closed by peer{cut}")
                    return
                conn.last_rx = time.monotonic()
                dec.feed(data)
        except FrameError as exc:
            self._frame_misbehaviour(conn, exc)
        except (ConnectionError, OSError) as exc:
            conn.request_close(f"connection lost: {describe_exc(exc)}")

    def _frame_misbehaviour(self, conn: Conn, exc: FrameError) -> None:
        reason = f"{exc.code}: {exc.message}"
        length = self._bans.offend(("id", conn.pub), reason, self.clock())
        logger.warning("peer %s sent a bad frame (%s): disconnecting, banned for %.0f s",
                       conn.label, reason, length)
        notify = f"banned for {length:.0f} s: {reason}"
        conn.request_close(f"misbehaviour: {reason}", notify=notify)
        peer = self._peers.get(conn.pub)
        if peer is not None:
            self._drop_peer(peer, f"misbehaviour: {reason}", notify=notify)

    async def _write_loop(self, peer: Peer, conn: Conn) -> None:
        lim = self.limits
        writer = conn.writer
        try:
            while not conn.closing.is_set() and peer.conn is conn:
                if not peer.queue:
                    peer.wake.clear()
                    try:
                        async with asyncio.timeout(lim.ping_interval):
                            await peer.wake.wait()
                    except TimeoutError:
                        writer.write(PING_FRAME)
                    continue
                batch: list[bytes] = []
                size = 0
                while peer.queue and size < 1024 * 1024:
                    frame = peer.queue.popleft()
                    batch.append(frame)
                    size += len(frame)
                peer.queued_bytes -= size
                writer.writelines(batch)
                async with asyncio.timeout(lim.write_timeout):
                    await writer.drain()
        except TimeoutError:
            conn.request_close(f"write timeout: peer not reading for {lim.write_timeout:g} s")
        except (ConnectionError, OSError) as exc:
            conn.request_close(f"connection lost: {describe_exc(exc)}")
