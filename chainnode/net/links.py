"""The pieces of one peer link: limits, the link (`Conn`), the identity with its send queue
(`Peer`), and small helpers shared by the manager and its dialling half."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from chainnode.net.framing import FrameDecoder, encode_frame
from chainnode.net.handshake import short_key
from chainnode.net.tls import describe_error

PING = "net/ping"
BYE = "net/bye"
NET_TYPES = frozenset({PING, BYE})
PING_FRAME = encode_frame(PING, None)
# handshake failures of an inbound stranger that earn its address a ban
BANNABLE = frozenset({
    "malformed", "wrong-version", "wrong-chain", "wrong-genesis", "not-authorised",
    "bad-signature", "timeout", "tls",
})

OnMessage = Callable[[bytes, str, Any], Awaitable[None] | None]
OnConnect = Callable[[bytes, str], Awaitable[None] | None]
OnDisconnect = Callable[[bytes, str], Awaitable[None] | None]


@dataclass(frozen=True)
class NetLimits:
    max_inbound: int = 128  # inbound sockets, handshaking or established
    send_queue_frames: int = 4096
    send_queue_bytes: int = 64 * 1024 * 1024
    handshake_timeout: float = 10.0  # TLS + HELLO/AUTH
    connect_timeout: float = 5.0
    ping_interval: float = 5.0
    idle_timeout: float = 30.0
    write_timeout: float = 30.0
    backoff_base: float = 0.25
    backoff_cap: float = 30.0
    stable_after: float = 10.0  # a link that lived this long resets the redial backoff
    ban_base: float = 5.0
    ban_cap: float = 600.0
    ban_forget: float = 3600.0
    callback_grace: float = 5.0  # how long closing waits for a running on_message
    drain_timeout: float = 2.0  # how long a replaced link is read for frames in flight
    read_chunk: int = 256 * 1024
    exempt_hosts: frozenset[str] | None = None  # None: the configured peers' addresses


@dataclass(frozen=True)
class PeerInfo:
    public_key: bytes
    role: str
    outbound: bool | None  # None while a replaced link's successor is being set up
    remote: tuple[str, int] | None
    connected_for: float


class Conn:
    """One TLS link; after the handshake it serves one peer identity."""

    def __init__(self, reader, writer, outbound: bool, remote: tuple[str, int],
                 dial_addr: tuple[str, int] | None) -> None:
        self.reader: asyncio.StreamReader = reader
        self.writer: asyncio.StreamWriter = writer
        self.outbound = outbound
        self.remote = remote
        self.dial_addr = dial_addr
        self.decoder = FrameDecoder()
        self.pub = b""
        self.role = ""
        self.initiator = b""
        self.closing = asyncio.Event()
        self.close_reason = ""
        self.notify: str | None = None
        self.drain = False  # replaced by another link: keep reading until the peer's BYE
        self.in_callback = False
        self.dropped_as_duplicate = False  # the peer said it kept another link to us
        self.last_rx = time.monotonic()

    def request_close(self, reason: str, notify: str | None = None, drain: bool = False) -> None:
        if not self.closing.is_set():
            self.close_reason = reason
            self.notify = notify
            self.drain = drain
            self.closing.set()

    @property
    def label(self) -> str:
        who = short_key(self.pub) + "…" if self.pub else "?"
        return f"{who}@{self.remote[0]}:{self.remote[1]}"


class Peer:
    """A connected identity; its send queue outlives the swap of one link for another."""

    def __init__(self, pub: bytes, role: str) -> None:
        self.pub = pub
        self.role = role
        self.conn: Conn | None = None
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.wake = asyncio.Event()
        self.gone = asyncio.Event()
        self.grace: asyncio.Task | None = None
        self.since = time.monotonic()

    @property
    def label(self) -> str:
        return self.conn.label if self.conn is not None else short_key(self.pub) + "…"


async def call_maybe(fn: Callable[..., Any] | None, *args: Any) -> None:
    if fn is None:
        return
    result = fn(*args)
    if inspect.isawaitable(result):
        await result


async def close_quietly(writer: asyncio.StreamWriter, timeout: float = 1.0) -> None:
    """Close, flushing what is buffered, but never wait on the peer for long."""
    with contextlib.suppress(Exception):
        writer.close()
    try:
        async with asyncio.timeout(timeout):
            await writer.wait_closed()
    except Exception:
        writer.transport.abort()
    except asyncio.CancelledError:
        writer.transport.abort()
        raise


def describe_exc(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return describe_error(exc)
    return str(exc) or type(exc).__name__
