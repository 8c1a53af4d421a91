"""Signature and certificate checks over the injected verifier.

The core never sees keys. The shell injects
`verify(validator_index, domain, payload, signature) -> bool` (the real node prepends the
domain tag and chain id and checks SM2; the simulator uses fake deterministic signatures), and
`sign(domain, payload) -> bytes` for this node's own key. Successful checks are remembered in a
small bounded cache because VIEW-CHANGEs are retransmitted and re-embedded in NEW-VIEWs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from chainnode.consensus.messages import Message, NewView, PreparedCertificate, ViewChange
from chainnode.core.certificate import CommitCertificate, vote_payload
from chainnode.crypto.hashing import sm3

Sign = Callable[[str, bytes], bytes]
Verify = Callable[[int, str, bytes, bytes], bool]
SignatureCheck = tuple[int, str, bytes, bytes]  # (index, domain, payload, signature)


def signature_checks(msg: Message, chain_id: str) -> list[SignatureCheck]:
    """Every (index, domain, payload, signature) that `msg` depends on.

    A shell can verify these in a thread pool before handing the message to the core, then
    inject a verifier that answers from its results, keeping SM2 off the event loop.
    """
    out: list[SignatureCheck] = [(msg.sender, msg.DOMAIN, msg.signing_payload(chain_id),
                                  msg.signature)]
    if isinstance(msg, ViewChange):
        if msg.committed_cert is not None:
            c = msg.committed_cert
            out += [(i, "commit", vote_payload("commit", c.chain_id, c.view, c.height,
                                               c.block_hash, t), s)
                    for i, t, s in c.signatures]
        if msg.prepared is not None:
            pc = msg.prepared
            p = vote_payload("prepare", chain_id, pc.view, pc.height, pc.block_hash)
            out += [(i, "prepare", p, s) for i, s in pc.signatures]
    elif isinstance(msg, NewView):
        for vc in msg.view_changes:
            out += signature_checks(vc, chain_id)
        if msg.pre_prepare is not None:
            out += signature_checks(msg.pre_prepare, chain_id)
    return out


class Checker:
    """Checks that messages and certificates carry valid signatures of in-range validators."""

    CACHE_SIZE = 4096

    def __init__(self, n: int, chain_id: str, verify: Verify) -> None:
        self.n = n
        self.chain_id = chain_id
        self._verify = verify
        self._need = n - (n - 1) // 3
        self._ok: OrderedDict[tuple[int, str, bytes, bytes], None] = OrderedDict()

    def _check(self, index: int, domain: str, payload: bytes, signature: bytes) -> bool:
        if not 0 <= index < self.n:
            return False
        key = (index, domain, sm3(payload), signature)  # a digest: NEW-VIEW payloads are big
        if key in self._ok:
            return True
        if not self._verify(index, domain, payload, signature):
            return False
        self._ok[key] = None
        if len(self._ok) > self.CACHE_SIZE:
            self._ok.popitem(last=False)
        return True

    def signed(self, msg: Message) -> bool:
        """The outer signature only (not what is embedded)."""
        return self._check(msg.sender, msg.DOMAIN, msg.signing_payload(self.chain_id),
                           msg.signature)

    def prepared(self, pc: PreparedCertificate) -> bool:
        idx = [i for i, _ in pc.signatures]
        if len(idx) < self._need or idx != sorted(set(idx)):
            return False
        p = vote_payload("prepare", self.chain_id, pc.view, pc.height, pc.block_hash)
        return all(self._check(i, "prepare", p, s) for i, s in pc.signatures)

    def committed(self, cert: CommitCertificate) -> bool:
        try:
            cert.check(self.n, lambda i, p, s: self._check(i, "commit", p, s),
                       chain_id=self.chain_id)
        except ValueError:
            return False
        return True

    def view_change(self, vc: ViewChange) -> bool:
        return (self.signed(vc)
                and (vc.committed_cert is None or self.committed(vc.committed_cert))
                and (vc.prepared is None or self.prepared(vc.prepared)))
