"""Hostile peers against a real PeerManager on loopback: garbage, oversize frames, bad types,
stalled and replayed handshakes, a relaying man in the middle, connection floods, bans."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import struct

import pytest

from chainnode.net.framing import FrameDecoder, encode_frame
from chainnode.net.handshake import (
    AUTH,
    HANDSHAKE_TYPES,
    HELLO,
    INITIATOR,
    Hello,
    auth_transcript,
    read_message,
    run_handshake,
    sign_auth,
)
from chainnode.net.peers import NET_TYPES
from chainnode.net.testing import Cluster, LocalPKI, fast_limits, wait_until
from chainnode.net.tls import client_context, create_ca, issue_cert

DEADLINE = 5.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return LocalPKI(tmp_path_factory.mktemp("adv-pki"))


@pytest.fixture
async def cluster(pki, caplog):
    caplog.set_level(logging.DEBUG, logger="chainnode.net")
    c = Cluster(pki)
    yield c
    await c.close()


def addr(mgr):
    return ("127.0.0.1", mgr.listen_port)


async def pair(cluster, **kw):
    a, ra = await cluster.node("a", **kw)
    b, rb = await cluster.node("b", peers=[addr(a)], **kw)
    await wait_until(lambda: a.connected() == [b.public_key] and b.connected() == [a.public_key])
    return (a, ra), (b, rb)


async def still_works(a, b, rb, tag):
    assert await a.send(b.public_key, "msg", tag)
    await rb.wait(lambda: any(p == tag for _, _, p in rb.messages), timeout=DEADLINE)


async def closed_by_server(reader, timeout=DEADLINE) -> bool:
    """True when the server hangs up (EOF or reset) within the deadline."""
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(65536):
                pass
        return True
    except (ConnectionError, OSError):
        return True


async def tls_connect(port, ident):
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=ident.tls.client), DEADLINE
    )
    peer_der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    return reader, writer, hashlib.sha256(peer_der).digest()


# ------------------------------------------------------------------ before TLS


@pytest.mark.parametrize("junk", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\xff\xff\xff\xff" + b"\x00" * 64,  # oversized length prefix, in the clear
    bytes(range(256)) * 4,
])
async def test_raw_tcp_garbage_is_dropped_and_others_keep_working(cluster, caplog, junk):
    (a, _), (b, rb) = await pair(cluster)
    reader, writer = await asyncio.open_connection("127.0.0.1", a.listen_port)
    writer.write(junk)
    await writer.drain()
    assert await closed_by_server(reader)
    writer.close()
    await wait_until(lambda: "rejected inbound peer" in caplog.text and "tls" in caplog.text)
    assert a.connected() == [b.public_key]
    await still_works(a, b, rb, "after garbage")


async def test_client_certificate_from_another_ca_is_refused(cluster, caplog, tmp_path):
    a, _ = await cluster.node("a")
    ca, ca_key = create_ca(tmp_path)
    cert, key = issue_cert(ca, ca_key, "rogue", tmp_path)
    ctx = client_context(ca, cert, key)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", a.listen_port, ssl=ctx), DEADLINE)
    except (OSError, ConnectionError):
        pass  # refused during the TLS handshake itself
    else:
        assert await closed_by_server(reader)
        writer.close()
    await wait_until(lambda: "rejected inbound peer" in caplog.text)
    assert a.connected() == []


# ------------------------------------------------------------------ after TLS, before SM2


async def test_oversized_frame_during_handshake_is_refused_without_buffering(
        cluster, pki, caplog):
    (a, _), (b, rb) = await pair(cluster)
    reader, writer, _ = await tls_connect(a.listen_port, pki.identity("stranger1"))
    writer.write(struct.pack(">I", 16 * 1024 * 1024))  # allowed later, never in the handshake
    await writer.drain()
    assert await closed_by_server(reader)
    writer.close()
    await wait_until(lambda: "FRAME_TOO_LARGE" in caplog.text)
    await still_works(a, b, rb, "after oversize")


async def test_garbage_frame_during_handshake(cluster, pki, caplog):
    a, _ = await cluster.node("a")
    reader, writer, _ = await tls_connect(a.listen_port, pki.identity("stranger2"))
    body = b"\xc1\xc1\xc1"
    writer.write(struct.pack(">I", len(body)) + body)
    await writer.drain()
    assert await closed_by_server(reader)
    writer.close()
    await wait_until(lambda: "FRAME_MALFORMED" in caplog.text)


async def test_application_message_before_handshake_is_refused(cluster, pki, caplog):
    a, _ = await cluster.node("a")
    reader, writer, _ = await tls_connect(a.listen_port, pki.identity("stranger3"))
    writer.write(encode_frame("msg", "let me in"))
    await writer.drain()
    assert await closed_by_server(reader)
    writer.close()
    await wait_until(lambda: "FRAME_BAD_TYPE" in caplog.text)


async def test_stalled_handshake_times_out(cluster, pki, caplog):
    lim = dataclasses.replace(fast_limits(), handshake_timeout=0.5)
    a, _ = await cluster.node("a", limits=lim)
    reader, writer, _ = await tls_connect(a.listen_port, pki.identity("staller"))
    # say nothing at all
    assert await closed_by_server(reader, timeout=3)
    writer.close()
    await wait_until(lambda: "timeout" in caplog.text)


async def test_auth_replayed_from_another_session_fails(cluster, pki, caplog):
    a, _ = await cluster.node("a")
    victim = pki.identity("victim")
    cluster.allowed[victim.pub] = "validator"
    chain, genesis = cluster.chain_id, cluster.genesis_hash

    async def session(signature: bytes | None):
        reader, writer, peer_fp = await tls_connect(a.listen_port, victim)
        dec = FrameDecoder(max_frame=4096, allowed_types=HANDSHAKE_TYPES | NET_TYPES)
        ours = Hello.new(chain, genesis, victim.pub, "validator")
        writer.write(encode_frame(HELLO, ours.to_wire()))
        t, payload = await asyncio.wait_for(read_message(reader, dec), DEADLINE)
        assert t == HELLO
        theirs = Hello.from_wire(payload)
        if signature is None:  # honest: sign this session's transcript
            signature = sign_auth(victim.key, chain, auth_transcript(
                INITIATOR, ours, theirs, victim.tls.fingerprint, peer_fp))
        writer.write(encode_frame(AUTH, {"signature": signature}))
        # both sides send AUTH unprompted; a verdict on ours, if any, follows theirs
        t, payload = await asyncio.wait_for(read_message(reader, dec), DEADLINE)
        assert t == AUTH
        try:
            t, payload = await asyncio.wait_for(read_message(reader, dec), 0.5)
        except TimeoutError:
            pass  # accepted: nothing more to say
        return signature, t, payload, reader, writer

    sig, t, _, reader, writer = await session(None)
    assert t == AUTH  # the honest session completes
    await wait_until(lambda: a.connected() == [victim.pub])
    writer.close()
    await wait_until(lambda: a.connected() == [])

    # an eavesdropper (or a bad insider with its own testnet cert) replays that AUTH
    _, t, payload, reader, writer = await session(sig)
    assert t == "net/reject" and payload["reason"] == "bad-signature"
    assert await closed_by_server(reader)
    writer.close()
    assert a.connected() == []
    assert "bad-signature" in caplog.text and "replayed" in caplog.text


async def test_relaying_man_in_the_middle_is_detected(cluster, pki, caplog):
    """M holds a genuine testnet TLS certificate and relays the SM2 handshake verbatim
    between two honest validators; the certificate fingerprints in AUTH expose it."""
    b, rb = await cluster.node("b")
    mallory = pki.identity("mallory")
    relays: list[asyncio.Task] = []

    async def pipe(src, dst):
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.close()

    async def relay(r_a, w_a):
        try:
            r_b, w_b = await asyncio.open_connection(
                "127.0.0.1", b.listen_port, ssl=mallory.tls.client)
        except (OSError, ConnectionError):
            w_a.close()
            return
        relays.extend([asyncio.create_task(pipe(r_a, w_b)), asyncio.create_task(pipe(r_b, w_a))])

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=mallory.tls.server)
    m_port = server.sockets[0].getsockname()[1]
    try:
        a, ra = await cluster.node("a", peers=[("127.0.0.1", m_port)])
        await wait_until(lambda: caplog.text.count("bad-signature") >= 2)
        assert a.connected() == [] and b.connected() == []
        assert ra.connects == [] and rb.connects == []
    finally:
        server.close()
        for t in relays:
            t.cancel()
        await asyncio.gather(*relays, return_exceptions=True)


# ------------------------------------------------------------------ authenticated but hostile


async def authenticated_rogue(cluster, pki, target):
    rogue = pki.identity("rogue")
    cluster.allowed[rogue.pub] = "validator"
    reader, writer, peer_fp = await tls_connect(target.listen_port, rogue)
    dec = FrameDecoder()
    await asyncio.wait_for(run_handshake(
        reader, writer, dec, initiator=True, chain_id=cluster.chain_id,
        genesis_hash=cluster.genesis_hash, key=rogue.key, role="validator",
        own_fingerprint=rogue.tls.fingerprint, peer_fingerprint=peer_fp,
        authorizer=cluster.authorizer), DEADLINE)
    await wait_until(lambda: rogue.pub in target.connected())
    return rogue, reader, writer


@pytest.mark.parametrize("frame, code", [
    (encode_frame("no-such-type", 1), "FRAME_BAD_TYPE"),
    (encode_frame("net/hello", {}), "FRAME_BAD_TYPE"),  # handshake is over
    (struct.pack(">I", 2 * 1024 * 1024) + b"\x00" * 16, "FRAME_TOO_LARGE"),
    (struct.pack(">I", 3) + b"\x92\xa3m", "FRAME_MALFORMED"),  # body cut short, then more
    (struct.pack(">I", 12) + b"\x92\xa1m\xcb" + b"\x3f\xf8" + b"\x00" * 6, "FRAME_MALFORMED"),
])
async def test_authenticated_peer_sending_bad_frames_is_dropped_and_banned(
        cluster, pki, caplog, frame, code):
    (a, ra), (b, rb) = await pair(cluster, max_frame=1024 * 1024)
    rogue, reader, writer = await authenticated_rogue(cluster, pki, a)
    writer.write(frame + b"\x00" * 8)
    await writer.drain()
    assert await closed_by_server(reader)
    writer.close()
    await wait_until(lambda: rogue.pub not in a.connected())
    assert a.ban_remaining(rogue.pub) > 0
    assert code in caplog.text
    disconnect = [r for p, r in ra.disconnects if p == rogue.pub]
    assert disconnect and code in disconnect[0]
    # a banned identity is turned away at the handshake
    reader2, writer2, peer_fp = await tls_connect(a.listen_port, rogue)
    dec = FrameDecoder()
    with pytest.raises(Exception) as ei:
        await asyncio.wait_for(run_handshake(
            reader2, writer2, dec, initiator=True, chain_id=cluster.chain_id,
            genesis_hash=cluster.genesis_hash, key=rogue.key, role="validator",
            own_fingerprint=rogue.tls.fingerprint, peer_fingerprint=peer_fp,
            authorizer=cluster.authorizer), DEADLINE)
    assert "banned" in str(ei.value)
    writer2.close()
    # the honest link never noticed
    assert a.connected() == [b.public_key]
    await still_works(a, b, rb, "after rogue")


async def test_app_reported_misbehaviour_from_inside_on_message(cluster):
    """The app decides a message is bad while handling it; the peer is cut off and banned."""
    reported = asyncio.Event()
    holder = {}

    async def judge(peer, msg_type, payload):
        if payload == "forged vote":
            holder["mgr"].report_misbehaviour(peer, "forged vote")
            reported.set()

    a, ra = await cluster.node("a", on_message=judge)
    holder["mgr"] = a
    b, rb = await cluster.node("b", peers=[addr(a)])
    await wait_until(lambda: a.connected() == [b.public_key] and b.connected())
    assert await b.send(a.public_key, "vote", "forged vote")
    await asyncio.wait_for(reported.wait(), DEADLINE)
    await ra.wait(lambda: ra.disconnects)
    await rb.wait(lambda: rb.disconnects)
    assert "banned" in rb.disconnects[0][1] and "forged vote" in rb.disconnects[0][1]
    assert a.ban_remaining(b.public_key) > 0


# ------------------------------------------------------------------ floods and address bans


async def test_inbound_connection_limit(cluster):
    lim = dataclasses.replace(fast_limits(), max_inbound=2)
    a, _ = await cluster.node("a", limits=lim)
    held = [await asyncio.open_connection("127.0.0.1", a.listen_port) for _ in range(2)]
    await wait_until(lambda: a._inbound == 2)
    reader, writer = await asyncio.open_connection("127.0.0.1", a.listen_port)
    assert await closed_by_server(reader, timeout=1.0)  # refused at once, before TLS
    writer.close()
    for _, w in held:
        w.close()
    await wait_until(lambda: a._inbound == 0)


async def test_stranger_address_is_banned_then_refused_before_tls(cluster, caplog):
    # no configured peers: loopback is not a known peer address, so it can be banned
    lim = dataclasses.replace(fast_limits(), exempt_hosts=frozenset(), ban_base=30.0,
                              ban_cap=60.0, handshake_timeout=3.0)
    a, _ = await cluster.node("a", limits=lim)
    reader, writer = await asyncio.open_connection("127.0.0.1", a.listen_port)
    writer.write(b"\x16\x03\x01\x00\x05hello")
    await writer.drain()
    assert await closed_by_server(reader)
    writer.close()
    await wait_until(lambda: "address banned for 30 s" in caplog.text)
    # now even a silent connection is closed immediately, long before the handshake timeout
    reader, writer = await asyncio.open_connection("127.0.0.1", a.listen_port)
    assert await closed_by_server(reader, timeout=1.0)
    writer.close()


async def test_configured_peer_address_is_not_banned(cluster, caplog):
    (a, _), (b, rb) = await pair(cluster)
    a.add_peer(*addr(b))  # a full mesh: each side lists the other
    for _ in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", a.listen_port)
        writer.write(b"junk" * 10)
        assert await closed_by_server(reader)
        writer.close()
    await wait_until(lambda: caplog.text.count("not banned") >= 3)
    b.disconnect(a.public_key, "test: reconnect")
    await rb.wait(lambda: rb.disconnects)
    # b, on the same address, gets back in
    await wait_until(lambda: a.connected() == [b.public_key] and b.connected(), timeout=DEADLINE)


async def test_frame_cut_off_by_a_crash_is_not_a_ban(cluster, pki, caplog):
    a, ra = await cluster.node("a")
    rogue, reader, writer = await authenticated_rogue(cluster, pki, a)
    writer.write(encode_frame("msg", b"x" * 1000)[:500])  # then the process "dies"
    await writer.drain()
    writer.transport.abort()
    await ra.wait(lambda: ra.disconnects)
    assert "mid-frame" in ra.disconnects[0][1]
    assert a.ban_remaining(rogue.pub) == 0
