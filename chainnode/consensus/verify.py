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
from typing import Any

from chainnode.consensus.epoch import Epoch, EpochHistory
from chainnode.consensus.messages import Message, NewView, PreparedCertificate, ViewChange
from chainnode.core.certificate import CommitCertificate, vote_payload
from chainnode.crypto.hashing import sm3

Sign = Callable[[str, bytes], bytes]
# verify(member, domain, payload, signature): `member` is the validator's id in the epoch of
# the message's height (its index when the core runs with one static set)
Verify = Callable[[Any, str, bytes, bytes], bool]
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
    """Checks that messages and certificates carry valid signatures of in-range validators
    of ONE validator set (an epoch's): index i is `members[i]`, and the injected verifier is
    called with that member id, so a signature only counts under the set it was made for."""

    CACHE_SIZE = 4096

    def __init__(self, members: tuple | int, chain_id: str, verify: Verify) -> None:
        if isinstance(members, int):  # a static set named by its size: ids are the indexes
            members = tuple(range(members))
        self.members = tuple(members)
        self.n = len(self.members)
        self.chain_id = chain_id
        self._verify = verify
        self._need = self.n - (self.n - 1) // 3
        self._ok: OrderedDict[tuple[object, str, bytes, bytes], None] = OrderedDict()

    def _check(self, index: int, domain: str, payload: bytes, signature: bytes) -> bool:
        if not 0 <= index < self.n:
            return False
        member = self.members[index]
        key = (member, domain, sm3(payload), signature)  # a digest: NEW-VIEW payloads are big
        if key in self._ok:
            return True
        if not self._verify(member, domain, payload, signature):
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


class EpochCheckers:
    """One Checker per epoch: every message and certificate is checked against the set of
    its own height (a VIEW-CHANGE's sender against the set of the height it asks about, its
    commit certificate against the set of the certified height, and so on)."""

    def __init__(self, chain_id: str, verify: Verify) -> None:
        self.chain_id = chain_id
        self._verify = verify
        self._by_start: dict[int, Checker] = {}

    def for_epoch(self, epoch: Epoch) -> Checker:
        c = self._by_start.get(epoch.start)
        if c is None or c.members != epoch.validators:
            c = self._by_start[epoch.start] = Checker(epoch.validators, self.chain_id,
                                                      self._verify)
        return c

    def committed(self, cert: CommitCertificate, history: EpochHistory) -> bool:
        return self.for_epoch(history.at(cert.height)).committed(cert)

    def view_change(self, vc: ViewChange, height: int, history: EpochHistory) -> bool:
        """`vc` counts toward the quorum for `height` (its signer is a member of that height's
        set); its certificates are checked against the sets of their own heights."""
        return (self.for_epoch(history.at(height)).signed(vc)
                and (vc.committed_cert is None or self.committed(vc.committed_cert, history))
                and (vc.prepared is None or self.for_epoch(
                    history.at(vc.prepared.height)).prepared(vc.prepared)))
