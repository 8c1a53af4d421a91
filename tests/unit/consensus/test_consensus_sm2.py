"""The core with real SM2 through chainnode.crypto.domain: the same verifier the node
injects, certificates that verify outside the core, and byte-identical resends even though
SM2 signatures are randomised."""

from __future__ import annotations

from dataclasses import replace

from cons_util import CHAIN, Driver, block, of, sent

from chainnode.consensus import BlockValidated, CommitBlock, Prepare, Start
from chainnode.crypto import domain
from chainnode.crypto.sm2 import PrivateKey


class SM2Keys:
    def __init__(self, n: int) -> None:
        self.keys = [PrivateKey.from_bytes(bytes([i + 1]) * 32) for i in range(n)]

    def signer(self, i: int):
        return lambda dom, payload: domain.sign(self.keys[i], dom, CHAIN, payload)

    def verify(self, i: int, dom: str, payload: bytes, sig: bytes) -> bool:
        return 0 <= i < len(self.keys) and domain.verify(self.keys[i].public_key, dom, CHAIN,
                                                         payload, sig)

    def sign(self, msg, i: int | None = None):
        i = msg.sender if i is None else i
        return replace(msg, signature=self.signer(i)(msg.DOMAIN, msg.signing_payload(CHAIN)))


def test_round_with_sm2_and_certificate_checked_outside_the_core():
    keys = SM2Keys(4)
    d = Driver(n=4, me=1, keys=keys)
    d.feed(Start())
    a, body = block(1)
    d.recv(d.pre_prepare(0, 1, body))
    (p,) = sent(d.feed(BlockValidated(1, 0, a, True)), Prepare)
    assert keys.signer(1)("prepare", b"x") != keys.signer(1)("prepare", b"x")  # randomised
    assert sent(d.restart()) == [p]  # so the resend must come from the WAL, byte for byte
    for i in (0, 2):
        d.recv(d.prepare(0, 1, a, i))
    acts = []
    for i in (0, 3):
        acts += d.recv(d.commit(0, 1, a, i))
    (cb,) = of(acts, CommitBlock)
    cb.certificate.check(
        4, lambda i, payload, sig: domain.verify(keys.keys[i].public_key, "commit", CHAIN,
                                                 payload, sig),
        chain_id=CHAIN, height=1, block_hash=a)
    # a vote signed for another purpose (domain) does not count
    forged = replace(d.prepare(0, 1, a, 3), signature=keys.signer(3)("commit", p.signing_payload(
        CHAIN)))
    assert d.core.checker.signed(forged) is False
