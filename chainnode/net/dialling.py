"""Dialling and accepting peer links and running the handshake on them (PeerManager's
connection-setup half; the manager registers and serves what comes out of here)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import ssl
import time

from chainnode.net.handshake import HandshakeError, linger, run_handshake
from chainnode.net.links import BANNABLE, NET_TYPES, Conn, close_quietly, describe_exc
from chainnode.net.throttle import Backoff
from chainnode.net.tls import clock_skew

logger = logging.getLogger("chainnode.net")


class Dialling:
    """Mixin of PeerManager: listen, accept, dial with backoff, authenticate."""

    async def _bind(self, host: str, port: int) -> socket.socket:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        family, type_, proto, _, sockaddr = infos[0]
        sock = socket.socket(family, type_, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
            sock.listen(min(self.limits.max_inbound, 512))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    # ---------------------------------------------------------------- inbound

    async def _accept_loop(self, lsock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                sock, raddr = await loop.sock_accept(lsock)
            except asyncio.CancelledError:
                raise
            except OSError as exc:
                if self._stopping or lsock.fileno() < 0:
                    return
                logger.error("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            host, port = raddr[0], raddr[1]
            if self._stopping:
                sock.close()
                return
            if self._inbound >= self.limits.max_inbound:
                now = time.monotonic()
                if now - self._last_full_warning > 10:
                    self._last_full_warning = now
                    logger.warning("refusing inbound connection from %s:%d: %d inbound "
                                   "connections is the limit", host, port, self._inbound)
                sock.close()
                continue
            banned = self._bans.remaining(("ip", host), self.clock())
            if banned > 0:
                logger.debug("refusing %s:%d: address banned for %.0f more s (%s)", host, port,
                             banned, self._bans.reason(("ip", host)))
                sock.close()
                continue
            self._inbound += 1
            self._spawn(self._inbound_conn(sock, (host, port)), f"in:{host}:{port}")

    async def _inbound_conn(self, sock: socket.socket, remote: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        lim = self.limits
        writer = None
        try:
            reader = asyncio.StreamReader(limit=2 ** 16)
            protocol = asyncio.StreamReaderProtocol(reader)
            try:
                async with asyncio.timeout(lim.handshake_timeout):
                    transport, _ = await loop.connect_accepted_socket(
                        lambda: protocol, sock, ssl=self.tls.server,
                        ssl_handshake_timeout=lim.handshake_timeout,
                    )
            except (ssl.SSLError, OSError, TimeoutError) as exc:
                sock.close()
                self._handshake_failed(None, remote, HandshakeError("tls", describe_exc(exc)))
                return
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            conn = Conn(reader, writer, outbound=False, remote=remote, dial_addr=None)
            if not await self._authenticate(conn):
                return
            writer = None  # _serve owns it now
            await self._serve(conn)
        finally:
            self._inbound -= 1
            if writer is not None:
                writer.transport.abort()

    # ---------------------------------------------------------------- outbound

    async def _dial_loop(self, addr: tuple[str, int]) -> None:
        lim = self.limits
        backoff = Backoff(lim.backoff_base, lim.backoff_cap)
        failures = 0
        while not self._stopping:
            pub = self._addr_keys.get(addr)
            if pub is not None:
                live = self._peers.get(pub)
                if live is not None:
                    await live.gone.wait()
                    continue
                banned = self._bans.remaining(("id", pub), self.clock())
                if banned > 0:
                    await self._sleep(banned)
                    continue
            conn = await self._dial(addr, quiet=failures > 0)
            if conn is None:
                failures += 1
                if addr in self._self_addrs:
                    logger.info("%s:%d is this node itself; not dialling it", *addr)
                    return
                await self._sleep(backoff.next_delay())
                continue
            failures = 0
            started = time.monotonic()
            await self._serve(conn)
            if time.monotonic() - started >= lim.stable_after:
                backoff.reset()
            await self._sleep(backoff.next_delay())

    async def _sleep(self, seconds: float) -> None:
        """Sleep that ends early when the manager stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    async def _dial(self, addr: tuple[str, int], quiet: bool) -> Conn | None:
        lim = self.limits
        host, port = addr
        try:
            async with asyncio.timeout(lim.connect_timeout + lim.handshake_timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=self.tls.client,
                    ssl_handshake_timeout=lim.handshake_timeout,
                )
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            log = logger.debug if quiet else logger.info
            if clock_skew(exc):
                log = logger.warning  # an operator must act: say so on every attempt
            log("cannot connect to peer %s:%d: %s", host, port, describe_exc(exc))
            return None
        peername = writer.get_extra_info("peername") or addr
        if self.limits.exempt_hosts is None:
            self._exempt.add(peername[0])  # a configured peer's address, as resolved
        conn = Conn(reader, writer, outbound=True, remote=(peername[0], peername[1]),
                     dial_addr=addr)
        if await self._authenticate(conn):
            return conn
        return None

    # ---------------------------------------------------------------- handshake

    def _refuse(self, pub: bytes) -> str | None:
        remaining = self._bans.remaining(("id", pub), self.clock())
        if remaining > 0:
            return f"banned for {remaining:.0f} more s ({self._bans.reason(('id', pub))})"
        return None

    async def _authenticate(self, conn: Conn) -> bool:
        """TLS is up: run the SM2 handshake. On failure the link is closed and logged."""
        ssl_obj = conn.writer.get_extra_info("ssl_object")
        peer_der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
        try:
            if not peer_der:
                raise HandshakeError("tls", "peer presented no certificate")
            result = await run_handshake(
                conn.reader, conn.writer, conn.decoder,
                initiator=conn.outbound,
                chain_id=self.chain_id,
                genesis_hash=self.genesis_hash,
                key=self.key,
                role=self.role,
                own_fingerprint=self.tls.fingerprint,
                peer_fingerprint=hashlib.sha256(peer_der).digest(),
                authorizer=self.authorizer,
                refuse=self._refuse,
                timeout=self.limits.handshake_timeout,
            )
        except HandshakeError as exc:
            self._handshake_failed(conn, conn.remote, exc)
            if exc.told_peer:
                await linger(conn.reader)
            await close_quietly(conn.writer)
            return False
        except asyncio.CancelledError:
            conn.writer.transport.abort()
            raise
        conn.pub = result.public_key
        conn.role = result.role
        if result.peer_hello.role != result.role:
            logger.info("peer %s… claims role %r, admitted as %s (our validator set)",
                        result.public_key[:8].hex(), result.peer_hello.role[:20], result.role)
        conn.initiator = self.public_key if conn.outbound else conn.pub
        conn.decoder.set_limits(max_frame=self.max_frame,
                                allowed_types=self.message_types | NET_TYPES)
        if conn.dial_addr is not None:
            self._addr_keys[conn.dial_addr] = conn.pub
        return True

    def _handshake_failed(self, conn: Conn | None, remote: tuple[str, int],
                          exc: HandshakeError) -> None:
        direction = "outbound" if conn is not None and conn.outbound else "inbound"
        where = f"{remote[0]}:{remote[1]}"
        if exc.reason == "self-connection":
            if conn is not None and conn.dial_addr is not None:
                self._self_addrs.add(conn.dial_addr)
            logger.debug("%s %s is ourselves; closed", direction, where)
            return
        if direction == "inbound" and exc.reason in BANNABLE:
            host = remote[0]
            if host in self._exempt:
                logger.warning("rejected inbound peer %s: %s (address of a configured peer, "
                               "not banned)", where, exc)
            else:
                length = self._bans.offend(("ip", host), exc.reason, self.clock())
                logger.warning("rejected inbound peer %s: %s; address banned for %.0f s",
                               where, exc, length)
            return
        logger.warning("%s handshake with %s failed: %s", direction, where, exc)

