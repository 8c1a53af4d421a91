"""Helpers for tests that run real PeerManagers on loopback (this package's and the node's).

`LocalPKI` makes a throwaway CA and node identities; `Recorder` collects what a manager
delivers and lets a test wait for a condition with a deadline instead of sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainnode.crypto.sm2 import PrivateKey
from chainnode.net.peers import NetLimits, PeerManager
from chainnode.net.tls import NodeTLS, create_ca, issue_cert, load_node_tls


@dataclass(frozen=True)
class Identity:
    name: str
    key: PrivateKey
    tls: NodeTLS

    @property
    def pub(self) -> bytes:
        return self.key.public_key.raw


class LocalPKI:
    """A testnet CA in `directory`, issuing an SM2 key plus TLS certificate per node name."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.ca_cert, self.ca_key = create_ca(self.dir)

    def identity(self, name: str, key: PrivateKey | None = None) -> Identity:
        cert, tls_key = issue_cert(self.ca_cert, self.ca_key, name, self.dir)
        return Identity(name, key or PrivateKey.generate(), load_node_tls(self.ca_cert, cert, tls_key))


@dataclass
class Recorder:
    """Callbacks for a PeerManager that record everything and wake waiting tests."""

    messages: list[tuple[bytes, str, Any]] = field(default_factory=list)
    connects: list[tuple[bytes, str]] = field(default_factory=list)
    disconnects: list[tuple[bytes, str]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_message(self, peer: bytes, msg_type: str, payload: Any) -> None:
        self.messages.append((peer, msg_type, payload))
        self._changed.set()

    async def on_connect(self, peer: bytes, role: str) -> None:
        self.connects.append((peer, role))
        self._changed.set()

    async def on_disconnect(self, peer: bytes, reason: str) -> None:
        self.disconnects.append((peer, reason))
        self._changed.set()

    def poke(self) -> None:
        self._changed.set()

    async def wait(self, condition: Callable[[], bool], timeout: float = 10.0,
                   poll: float = 0.05) -> None:
        """Wait until condition() holds; TimeoutError after `timeout` seconds.

        Wakes on every recorded event and also polls, so conditions on manager state
        (connected(), bans) are seen without a callback.
        """
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                try:
                    async with asyncio.timeout(poll):
                        await self._changed.wait()
                except TimeoutError:
                    pass


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0,
                     poll: float = 0.02) -> None:
    """Poll a condition with a deadline (for state no Recorder sees)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(poll)


def fast_limits() -> NetLimits:
    """Timeouts, backoffs and bans scaled down so loopback tests finish in seconds."""
    return NetLimits(
        handshake_timeout=3.0, connect_timeout=2.0, ping_interval=0.5, idle_timeout=5.0,
        write_timeout=5.0, backoff_base=0.05, backoff_cap=0.5, stable_after=2.0,
        ban_base=1.0, ban_cap=4.0, callback_grace=1.0,
    )


class Cluster:
    """Builds PeerManagers that share a chain, a CA and one allow-list, and stops them all."""

    def __init__(self, pki: LocalPKI, chain_id: str = "test-chain",
                 genesis_hash: bytes = b"\x01" * 32,
                 message_types: tuple[str, ...] = ("msg", "blob", "vote")) -> None:
        self.pki = pki
        self.chain_id = chain_id
        self.genesis_hash = genesis_hash
        self.message_types = message_types
        self.allowed: dict[bytes, str] = {}
        self.managers: list[PeerManager] = []

    def authorizer(self, pub: bytes) -> str | None:
        return self.allowed.get(pub)

    async def node(self, name: str, *, role: str = "validator",
                   peers: list[tuple[str, int]] | None = None, port: int | None = 0,
                   identity: Identity | None = None, authorise: bool = True,
                   start: bool = True, **overrides: Any):
        """A started manager on 127.0.0.1 and its Recorder; overrides go to PeerManager."""
        ident = identity or self.pki.identity(name)
        if authorise:
            self.allowed[ident.pub] = role
        rec = Recorder()
        kwargs: dict[str, Any] = dict(
            chain_id=self.chain_id, genesis_hash=self.genesis_hash, key=ident.key,
            listen_host="127.0.0.1" if port is not None else None, listen_port=port,
            peers=list(peers or []), tls=ident.tls, authorizer=self.authorizer,
            on_message=rec.on_message, message_types=self.message_types, role=role,
            on_connect=rec.on_connect, on_disconnect=rec.on_disconnect,
            limits=fast_limits(),
        )
        kwargs.update(overrides)
        mgr = PeerManager(**kwargs)
        self.managers.append(mgr)
        if start:
            await mgr.start()
        return mgr, rec

    async def close(self) -> None:
        await asyncio.gather(*(m.stop(timeout=4.0) for m in self.managers))
