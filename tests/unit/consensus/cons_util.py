"""Helpers for driving one ConsensusCore by hand in unit tests.

`Driver` applies every Persist to a WAL as the shell would and asserts persist-before-send
on every action list: each message this node signed must already be in the WAL, exactly as
sent, when the Send for it comes up.
"""

from __future__ import annotations

from dataclasses import replace

from chainnode import codec
from chainnode.consensus import (
    Commit,
    ConsensusConfig,
    ConsensusCore,
    MessageReceived,
    NewView,
    Persist,
    Prepare,
    PreparedCertificate,
    PrePrepare,
    Send,
    Start,
    ViewChange,
    decode_message,
)
from chainnode.consensus.state import VOTE, vote_slot
from chainnode.core.certificate import CommitCertificate
from chainnode.crypto.hashing import sm3
from chainnode.store.wal import MemoryWAL

CHAIN = "unit-chain"
GENESIS = sm3(b"genesis")


class Keys:
    """Keyed-SM3 stand-ins for SM2: only index i's secret makes index i's signatures."""

    def __init__(self, n: int) -> None:
        self.secrets = [sm3(b"key%d" % i) for i in range(n)]
        self.verified = 0

    def signer(self, i: int):
        return lambda domain, payload: self._mac(i, domain, payload)

    def _mac(self, i: int, domain: str, payload: bytes) -> bytes:
        return sm3(self.secrets[i] + domain.encode() + b"\x00" + payload)

    def verify(self, i: int, domain: str, payload: bytes, sig: bytes) -> bool:
        self.verified += 1
        return 0 <= i < len(self.secrets) and sig == self._mac(i, domain, payload)

    def sign(self, msg, i: int | None = None):
        i = msg.sender if i is None else i
        return replace(msg, signature=self._mac(i, msg.DOMAIN, msg.signing_payload(CHAIN)))


def block(height: int, prev: bytes = GENESIS, tag: str = "") -> tuple[bytes, bytes]:
    body = codec.encode([height, prev, tag])
    return sm3(body), body


def of(actions, kind) -> list:
    return [a for a in actions if isinstance(a, kind)]


def sent(actions, kind=None) -> list:
    return [a.message for a in actions if isinstance(a, Send)
            and (kind is None or isinstance(a.message, kind))]


class Driver:
    def __init__(self, n: int = 4, me: int | None = 1, *, keys: Keys | None = None,
                 wal=None, committed=(0, b"", None), **cfg) -> None:
        self.keys = keys or Keys(n)
        self.wal = wal if wal is not None else MemoryWAL()
        self.n, self.me = n, me
        self.cfg = ConsensusConfig(n=n, own_index=me, chain_id=CHAIN, **cfg)
        self.committed = committed
        self.core = self._make()

    def _make(self) -> ConsensusCore:
        h, bh, cert = self.committed
        sign = self.keys.signer(self.me) if self.me is not None else None
        return ConsensusCore(self.cfg, sign, self.keys.verify, committed_height=h,
                             committed_hash=bh, committed_cert=cert, records=self.wal.load())

    def restart(self, committed=None) -> list:
        if committed is not None:
            self.committed = committed
        self.core = self._make()
        return self.feed(Start())

    def feed(self, event) -> list:
        actions = self.core.handle(event)
        for act in actions:
            if isinstance(act, Persist):
                self.wal.apply(act.puts, act.deletes)
            elif isinstance(act, Send) and act.message.sender == self.me:
                msg = act.message
                stored = self.wal.load().get(VOTE + codec.encode(list(vote_slot(msg))))
                assert stored is not None, f"sent {msg.KIND} before persisting it"
                old = decode_message(stored)
                assert old.signing_payload(CHAIN) == msg.signing_payload(CHAIN)
                assert old.signature == msg.signature
        return actions

    def recv(self, msg) -> list:
        return self.feed(MessageReceived(msg))

    # message makers, signed by whoever they name as sender

    def pre_prepare(self, view: int, height: int, body: bytes, sender: int | None = None,
                    block_hash: bytes | None = None) -> PrePrepare:
        sender = self.cfg.leader(view, height) if sender is None else sender
        return self.keys.sign(PrePrepare(view, height, block_hash or sm3(body), body, sender))

    def prepare(self, view: int, height: int, bh: bytes, sender: int) -> Prepare:
        return self.keys.sign(Prepare(view, height, bh, sender))

    def commit(self, view: int, height: int, bh: bytes, sender: int,
               time_ms: int = 0) -> Commit:
        return self.keys.sign(Commit(view, height, bh, sender, time_ms=time_ms))

    def prepared_cert(self, view: int, height: int, bh: bytes,
                      signers) -> PreparedCertificate:
        return PreparedCertificate(height, view, bh, tuple(
            (i, self.prepare(view, height, bh, i).signature) for i in sorted(signers)))

    def commit_cert(self, view: int, height: int, bh: bytes, signers) -> CommitCertificate:
        votes = [self.commit(view, height, bh, i) for i in sorted(signers)]
        return CommitCertificate(CHAIN, height, view, bh, tuple(
            (v.sender, v.time_ms, v.signature) for v in votes))

    def view_change(self, view: int, sender: int, committed=(0, None), prepared=None,
                    prepared_block=None) -> ViewChange:
        return self.keys.sign(ViewChange(view, committed[0], committed[1], prepared, sender,
                                         prepared_block=prepared_block))

    def new_view(self, view: int, vcs, pp, sender: int) -> NewView:
        vcs = tuple(sorted((vc.stripped() for vc in vcs), key=lambda v: v.sender))
        return self.keys.sign(NewView(view, vcs, pp, sender))
