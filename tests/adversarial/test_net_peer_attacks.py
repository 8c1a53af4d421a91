"""A Byzantine validator against three honest validator processes (DESIGN §8, §11).

The attacker holds a genesis validator's SM2 key and TLS certificate (node3's; node3 itself is
never started), so it passes TLS and the SM2 handshake like an honest peer. Instead of a node
it runs this test's own client, which sends the honest validators what no honest node would:
garbage frames, an oversized frame, undecodable consensus payloads, consensus messages with
bad signatures, a signature made in the wrong domain ("tx" instead of "prepare"), a forged
leader proposal, votes replayed from old heights and VIEW-CHANGEs for absurd views.

With f = 1 the three honest nodes must keep committing the background load throughout, never
follow the attacker into a huge view, disconnect and ban it for every provably bad message
(the ban then refuses its handshakes), and stay on one chain with every acknowledged
transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import os
import re
import sys
import time
from pathlib import Path

import pytest

from chainnode.consensus.messages import (
    Commit,
    Prepare,
    PrePrepare,
    ViewChange,
    decode_message,
    encode_message,
    with_signature,
)
from chainnode.crypto import domain
from chainnode.crypto.keyfile import load_private_key
from chainnode.net.framing import HEADER, FrameDecoder, FrameError, encode_frame
from chainnode.net.handshake import HandshakeError, run_handshake
from chainnode.net.peers import BYE, PING
from chainnode.net.tls import load_node_tls
from chainnode.net.txforward import MAX_BATCH_TXS, TX_BATCH


def _load_cluster():
    """tests/integration/cluster.py (the multi-process helpers), loaded by path."""
    name = "chainnode_tests_cluster"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "integration" / "cluster.py"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


cluster = _load_cluster()

# serial: wall-clock bounds / short timers (tests/conftest.py)
pytestmark = [pytest.mark.slow, pytest.mark.serial]

ATTACKER = 3  # the validator index whose key the attacker holds
DEADLINE = 30.0
HUGE_VIEW = 10**9


async def until(cond, timeout: float, what: str, interval: float = 0.05):
    """Poll a blocking `cond` (HTTP to the nodes) off the event loop until truthy."""
    return await asyncio.to_thread(cluster.wait_until, cond, timeout, what, interval)


class Link:
    """One authenticated link from the attacker to an honest validator."""

    def __init__(self, reader, writer, decoder: FrameDecoder, target) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = decoder
        self.target = target
        self.received: list[tuple[str, object]] = []
        self.bye: str | None = None
        self.closed = asyncio.Event()
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._ping())]

    async def _read(self) -> None:
        try:
            while True:
                while (msg := self.decoder.next_message()) is not None:
                    if msg.msg_type == BYE:
                        self.bye = str(msg.payload.get("reason"))
                    self.received.append((msg.msg_type, msg.payload))
                data = await self.reader.read(65536)
                if not data:
                    return
                self.decoder.feed(data)
        except (ConnectionError, OSError, FrameError):
            return
        finally:
            self.closed.set()

    async def _ping(self) -> None:  # the honest side drops links that stay silent for 30 s
        while not self.closed.is_set():
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                self.writer.write(encode_frame(PING, None))
            await asyncio.sleep(5)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, msg_type: str, payload: object) -> None:
        await self.send_raw(encode_frame(msg_type, payload))

    async def send_pbft(self, msg) -> None:
        await self.send("pbft", encode_message(msg))

    def consensus_messages(self) -> list:
        out = []
        for t, p in self.received:
            if t == "pbft" and isinstance(p, bytes):
                with contextlib.suppress(ValueError, TypeError):
                    out.append(decode_message(p))
        return out

    async def wait_closed(self, timeout: float = DEADLINE) -> str:
        """The honest side hung up: its BYE reason (or EOF)."""
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"{self.target.name} did not disconnect the attacker within "
                                 f"{timeout:.0f}s") from None
        return self.bye or "EOF"

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 2)


class Attacker:
    def __init__(self, net, identity) -> None:
        self.net = net
        self.index = identity.index
        self.key = load_private_key(identity.home / "node.key")
        ca = net.root / "ca" / "ca.crt"
        self.tls = load_node_tls(ca, identity.home / f"{identity.name}.crt",
                                 identity.home / f"{identity.name}.key")
        self.chain_id = net.chain_id
        self.links: list[Link] = []

    def sign(self, msg, dom: str | None = None):
        return with_signature(msg, domain.sign(self.key, dom or msg.DOMAIN, self.chain_id,
                                               msg.signing_payload(self.chain_id)))

    async def handshake(self, target) -> Link:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(*target.p2p, ssl=self.tls.client), 10)
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        vals = {v.public_key for v in self.net.genesis.validators}
        dec = FrameDecoder()
        try:
            await run_handshake(
                reader, writer, dec, initiator=True, chain_id=self.chain_id,
                genesis_hash=self.net.genesis.hash(), key=self.key, role="validator",
                own_fingerprint=self.tls.fingerprint,
                peer_fingerprint=hashlib.sha256(der).digest(),
                authorizer=lambda pub: "validator" if pub in vals else None, timeout=10)
        except BaseException:
            writer.close()
            raise
        dec.set_limits(max_frame=64 * 1024 * 1024,
                       allowed_types={"pbft", TX_BATCH, "sync/req", "sync/resp", PING, BYE})
        link = Link(reader, writer, dec, target)
        self.links.append(link)
        return link

    async def connect(self, target, timeout: float = DEADLINE) -> Link:
        """Handshake with `target`, waiting out a ban from an earlier offence."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await self.handshake(target)
            except HandshakeError as exc:
                if "banned" not in str(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.25)

    async def close(self) -> None:
        for link in self.links:
            await link.close()


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    tn = cluster.LocalNet(tmp_path_factory.mktemp("peer-attacks") / "testnet")
    honest = [n for n in tn.nodes if n.index != ATTACKER]
    try:
        tn.start(honest)
        tn.wait_meshed(honest)
        tn.register_one(honest[0])
        yield tn
    finally:
        tn.stop_all()


@pytest.fixture
def honest(net, request):
    failed = request.session.testsfailed
    nodes = [n for n in net.nodes if n.index != ATTACKER]
    assert not net.nodes[ATTACKER].running()
    yield nodes
    if request.session.testsfailed > failed:
        print(net.report())


@pytest.fixture
def say(capsys):
    def _say(text: str) -> None:
        with capsys.disabled():
            print(text, flush=True)
    return _say


@pytest.fixture
def load(net):
    with cluster.Load(net) as lo:
        lo.wait_acks(3, DEADLINE)
        yield lo


def views(nodes) -> list[int]:
    return [n.status()["view"] for n in nodes]


async def assert_banned(attacker: Attacker, link: Link, why: str) -> str:
    """The target dropped the link saying it banned us for `why`, and refuses a new one."""
    reason = await link.wait_closed(10)
    assert reason.startswith("banned for"), reason
    assert re.search(why, reason), reason
    with pytest.raises(HandshakeError) as err:
        await attacker.handshake(link.target)
    assert err.value.reason == "rejected-by-peer" and "banned" in err.value.detail, err.value
    return reason


async def logged(node, mark: int, text: str, what: str) -> None:
    """`node` logs `text` after log offset `mark` within 10 s."""
    await until(lambda: text in node.log_text()[mark:], 10, f"{node.name} to {what}")


async def still_committing(net, nodes, load, more: int = 5) -> None:
    t = time.monotonic()
    await asyncio.to_thread(load.wait_acks, more, DEADLINE, t)
    await until(lambda: len({n.height() for n in nodes}) == 1, DEADLINE, "honest heads equal")


def final_checks(net, nodes, load) -> None:
    load.stop()
    head = net.wait_converged(nodes, DEADLINE)
    net.assert_same_chain(nodes, range(1, head["height"] + 1))
    cluster.assert_acks_everywhere(load.acked(), nodes)
    vs = views(nodes)
    assert len(set(vs)) == 1 and vs[0] < 100, f"honest views jumped: {net.brief(nodes)}"
    net.wait_meshed(nodes)  # honest nodes never banned each other


# -- replays and absurd views are ignored; then garbage gets the attacker banned ----------------

async def test_replays_and_huge_view_change_then_garbage(net, honest, load, say):
    attacker = Attacker(net, net.nodes[ATTACKER])
    target, witness = honest[2], honest[0]
    try:
        spy = await attacker.connect(witness)  # collects the witness's real, signed votes
        link = await attacker.connect(target)
        await until(lambda: any(isinstance(m, (Prepare, Commit)) for m in
                                spy.consensus_messages()), DEADLINE, "votes from the witness")
        captured = [m for m in spy.consensus_messages() if isinstance(m, (Prepare, Commit))]
        old_h = max(m.height for m in captured)
        await still_committing(net, honest, load)
        assert target.height() > old_h
        v0 = views(honest)
        mark = len(target.log_text())

        # replays: the witness's genuine old votes, and our own validly signed old votes
        for m in captured:
            await link.send_pbft(m)
        for h in range(max(1, old_h - 3), old_h + 1):
            for cls in (Prepare, Commit):
                await link.send_pbft(attacker.sign(cls(v0[0], h, os.urandom(32),
                                                       ATTACKER)))
        # a validly signed VIEW-CHANGE to view 10**9, and to the largest view the codec allows
        for view in (HUGE_VIEW, 2**63 - 1):
            await link.send_pbft(attacker.sign(ViewChange(view, 0, None, None, ATTACKER)))

        await still_committing(net, honest, load)
        after = views(honest)
        assert all(v < v0[0] + 8 for v in after), f"views jumped: {v0} -> {after}"
        assert not link.closed.is_set(), f"replays got the link dropped: {link.bye}"
        # the link is still in use: the target kept sending us its votes for new heights
        assert any(m.height > old_h + 1 for m in link.consensus_messages()
                   if isinstance(m, (Prepare, Commit)))

        # garbage: a well-framed body that is not canonical msgpack
        await link.send_raw(HEADER.pack(9) + b"\xc1garbage!")
        reason = await assert_banned(attacker, link, "FRAME_MALFORMED")
        await until(lambda: "sent a bad frame (FRAME_MALFORMED" in target.log_text()[mark:],
                    10, "the target to log the bad frame")
        say(f"\n[peer-attacks] garbage -> {target.name}: {reason}")
        await still_committing(net, honest, load)
    finally:
        await attacker.close()
    final_checks(net, honest, load)


# -- malformed frames and payloads ------------------------------------------------------------

async def test_oversized_frame_and_undecodable_payloads(net, honest, load):
    attacker = Attacker(net, net.nodes[ATTACKER])
    try:
        # an oversized frame is refused from its 4-byte length alone
        link = await attacker.connect(honest[0])
        await link.send_raw(HEADER.pack(64 * 1024 * 1024) + b"\x92" + b"\x00" * 1024)
        await assert_banned(attacker, link, "FRAME_TOO_LARGE")

        # a consensus frame whose payload is no consensus message
        link = await attacker.connect(honest[1])
        await link.send("pbft", b"\x93\xa7prepare\x01")
        await assert_banned(attacker, link, "undecodable consensus message")

        # a consensus frame whose payload is not even bytes
        link = await attacker.connect(honest[2])
        await link.send("pbft", {"view": HUGE_VIEW})
        await assert_banned(attacker, link, "not bytes")
        await still_committing(net, honest, load)
    finally:
        await attacker.close()
    final_checks(net, honest, load)


# -- consensus messages with bad signatures ---------------------------------------------------

async def test_bad_and_wrong_domain_signatures(net, honest, load, say):
    attacker = Attacker(net, net.nodes[ATTACKER])
    try:
        st = honest[0].status()
        h, v = st["height"] + 1, st["view"]
        leader = v % len(net.nodes)
        cases = [
            ("random signature",
             Prepare(v, h, os.urandom(32), ATTACKER, os.urandom(64))),
            ("wrong domain (tx)",
             attacker.sign(Prepare(v, h, os.urandom(32), ATTACKER), dom="tx")),
            ("forged proposal in the leader's name",
             attacker.sign(PrePrepare(v, h, os.urandom(32), b"block", leader))),
            ("VIEW-CHANGE to 10**9 with a bad signature",
             ViewChange(HUGE_VIEW, 0, None, None, ATTACKER, os.urandom(64))),
        ]
        for i, (what, msg) in enumerate(cases):
            target = honest[i % len(honest)]
            mark = len(target.log_text())
            link = await attacker.connect(target)
            await link.send_pbft(msg)
            reason = await assert_banned(attacker, link, "signature")
            say(f"\n[peer-attacks] {what} -> {target.name}: {reason}")
            await logged(target, mark, "misbehaved", "log the misbehaviour")
        await still_committing(net, honest, load)
    finally:
        await attacker.close()
    final_checks(net, honest, load)


# -- forwarded transaction batches (chainnode.net.txforward) ----------------------------------

def _register_txs(net, node, n: int, chain_id: str | None = None) -> list:
    """`n` admin-signed member registrations, as an honest validator would forward them."""
    from chainnode.core.tx import build_tx
    from chainnode.crypto.address import address_of
    from chainnode.crypto.sm2 import PrivateKey

    expires = node.height() + 400
    return [build_tx(net.admin_key, chain_id or net.chain_id, "system", "sys.members",
                     "register", {"address": address_of(PrivateKey.generate().public_key),
                                  "roles": ["member"], "name": ""},
                     expires_at=expires, gas_limit=5_000_000) for _ in range(n)]


async def test_hostile_tx_batches(net, honest, load, say):
    """A good batch is admitted in order and committed on every node; a bad batch gets the
    sender banned at bounded cost (the shapes no honest node sends are covered one by one in
    tests/unit/net/test_net_txforward.py), and the honest nodes keep committing. One offence
    per node: bans grow with every offence of this identity in this module."""
    import dataclasses

    attacker = Attacker(net, net.nodes[ATTACKER])
    try:
        # the happy path: a batch of valid txs, forwarded as an honest validator does (to
        # every validator: whichever leads proposes them), is admitted and committed
        links = {n.name: await attacker.connect(n, timeout=60) for n in honest}
        good = _register_txs(net, honest[1], 5)  # after the waits for earlier bans to end
        for link in links.values():
            await link.send(TX_BATCH, [tx.encode() for tx in good])
        await until(lambda: all((n.tx(tx.hash.hex()) or {}).get("status") == "committed"
                                for n in honest for tx in good),
                    DEADLINE, "the batch's txs committed on every honest node")
        assert not any(lk.closed.is_set() for lk in links.values()), "a link was dropped"
        for n in honest:  # one link is one ordered source: committed in the batch's order
            places = [(r["height"], r["index"]) for r in (n.tx(tx.hash.hex()) for tx in good)]
            assert places == sorted(places), (n.name, places)

        # payloads are built just before sending: a tx must not expire while bans run out
        cases = [
            (honest[1], "too many", lambda: [b"x"] * (MAX_BATCH_TXS + 1), "exceeds"),
            (honest[2], "garbage and another chain's txs",
             lambda: [os.urandom(200) for _ in range(20)] + [
                 tx.encode() for tx in _register_txs(net, honest[0], 3, "other-chain")],
             "TX_MALFORMED|TX_WRONG_CHAIN"),
            (honest[0], "300 bad signatures",
             lambda: [dataclasses.replace(tx, signature=os.urandom(64)).encode()
                      for tx in _register_txs(net, honest[0], 300)], "TX_BAD_SIGNATURE"),
        ]
        for target, what, payload, why in cases:
            mark = len(target.log_text())
            link = links[target.name]
            await link.send(TX_BATCH, payload())
            reason = await assert_banned(attacker, link, why)
            say(f"\n[peer-attacks] tx batch {what} -> {target.name}: {reason}")
            if what == "300 bad signatures":
                # the frame is admitted as one (its verify jobs were all submitted at once
                # before too): 300 bad txs are one offence, reported once, none pooled
                await logged(target, mark, "misbehaved: forwarded an invalid tx",
                             "report the frame")
                await asyncio.sleep(0.5)  # a second report would come in the same iteration
                assert target.log_text()[mark:].count(
                    "misbehaved: forwarded an invalid tx") == 1, "one report per frame"
        await still_committing(net, honest, load)
    finally:
        await attacker.close()
    final_checks(net, honest, load)
