"""PBFT wire messages: frozen dataclasses with codec-safe list forms and signing payloads.

Every message names its sender (a validator index) and carries that validator's signature
over `signing_payload(chain_id)` in the domain `DOMAIN` of its class. PREPARE and COMMIT sign
exactly `vote_payload(kind, ...)` so the commit signatures the core collects form a
CommitCertificate that verifies outside the core. `from_wire` checks shapes and types only and
raises ValueError on anything malformed; signatures and quorums are checked by the core.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from chainnode import codec
from chainnode.core.certificate import CommitCertificate, vote_payload
from chainnode.crypto.hashing import sm3

HASH_LEN = 32
MAX_INT = 2**63 - 1  # views and heights beyond this are malformed, not merely far away
MAX_SIG_LEN = 256
MAX_SENDER = 2**16


def _int(v: object, what: str, lo: int = 0) -> int:
    if type(v) is not int or not lo <= v <= MAX_INT:
        raise ValueError(f"{what} must be an int in [{lo}, 2**63)")
    return v


def _hash(v: object, what: str = "block hash") -> bytes:
    if type(v) is not bytes or len(v) != HASH_LEN:
        raise ValueError(f"{what} must be {HASH_LEN} bytes")
    return v


def _bytes(v: object, what: str, max_len: int | None = None) -> bytes:
    if type(v) is not bytes or (max_len is not None and len(v) > max_len):
        raise ValueError(f"{what} must be bytes" + (f" of at most {max_len}" if max_len else ""))
    return v


def _sender(v: object) -> int:
    if type(v) is not int or not 0 <= v < MAX_SENDER:
        raise ValueError("sender must be a validator index")
    return v


def _list(w: object, n: int, what: str) -> list:
    if type(w) is not list or len(w) != n:
        raise ValueError(f"{what} must be a {n}-element list")
    return w


def _sig_pairs(v: object, what: str) -> tuple[tuple[int, bytes], ...]:
    if type(v) is not list or len(v) > MAX_SENDER:
        raise ValueError(f"{what} signatures must be a list")
    pairs = []
    for p in v:
        p = _list(p, 2, f"{what} signature entry")
        pairs.append((_sender(p[0]), _bytes(p[1], "signature", MAX_SIG_LEN)))
    idx = [i for i, _ in pairs]
    if idx != sorted(set(idx)):
        raise ValueError(f"{what} signer indexes must be distinct and sorted")
    return tuple(pairs)


@dataclass(frozen=True)
class PrePrepare:
    """The leader's proposal of `block` (the shell's encoded block, opaque here)."""

    KIND: ClassVar[str] = "pre-prepare"
    DOMAIN: ClassVar[str] = "pre-prepare"
    view: int
    height: int
    block_hash: bytes
    block: bytes
    sender: int
    signature: bytes = b""
    # sm3(block), computed once: the shell's signature check, the core's and the core's
    # record of rejected bodies each need it, and a block is large (not on the wire)
    _digest: bytes = field(default=b"", init=False, compare=False, repr=False)

    def body_digest(self) -> bytes:
        if not self._digest:
            object.__setattr__(self, "_digest", sm3(self.block))
        return self._digest

    def signing_payload(self, chain_id: str) -> bytes:
        # The block's own SM3 binds the bytes to the signature, so nobody relaying the
        # message can swap the body and make an honest leader look faulty.
        return codec.encode([self.view, self.height, self.block_hash, self.body_digest()])

    def to_wire(self) -> list:
        return [self.KIND, self.view, self.height, self.block_hash, self.block, self.sender,
                self.signature]

    @classmethod
    def from_wire(cls, w: object) -> PrePrepare:
        w = _list(w, 7, "pre-prepare")
        if w[0] != cls.KIND:
            raise ValueError("not a pre-prepare")
        return cls(_int(w[1], "view"), _int(w[2], "height", 1), _hash(w[3]),
                   _bytes(w[4], "block"), _sender(w[5]), _bytes(w[6], "signature", MAX_SIG_LEN))


@dataclass(frozen=True)
class _Vote:
    KIND: ClassVar[str] = ""
    DOMAIN: ClassVar[str] = ""
    view: int
    height: int
    block_hash: bytes
    sender: int
    signature: bytes = b""

    def signing_payload(self, chain_id: str) -> bytes:
        return vote_payload(self.KIND, chain_id, self.view, self.height, self.block_hash)

    def to_wire(self) -> list:
        return [self.KIND, self.view, self.height, self.block_hash, self.sender, self.signature]

    @classmethod
    def from_wire(cls, w: object):
        w = _list(w, 6, cls.KIND)
        if w[0] != cls.KIND:
            raise ValueError(f"not a {cls.KIND}")
        return cls(_int(w[1], "view"), _int(w[2], "height", 1), _hash(w[3]), _sender(w[4]),
                   _bytes(w[5], "signature", MAX_SIG_LEN))


@dataclass(frozen=True)
class Prepare(_Vote):
    KIND: ClassVar[str] = "prepare"
    DOMAIN: ClassVar[str] = "prepare"


@dataclass(frozen=True)
class Commit(_Vote):
    """A COMMIT vote; it also carries the voter's clock reading, signed (BFT time: the next
    block's time is the median of these over a certificate)."""

    KIND: ClassVar[str] = "commit"
    DOMAIN: ClassVar[str] = "commit"
    time_ms: int = 0

    def signing_payload(self, chain_id: str) -> bytes:
        return vote_payload(self.KIND, chain_id, self.view, self.height, self.block_hash,
                            self.time_ms)

    def to_wire(self) -> list:
        return [self.KIND, self.view, self.height, self.block_hash, self.sender, self.signature,
                self.time_ms]

    @classmethod
    def from_wire(cls, w: object) -> Commit:
        w = _list(w, 7, cls.KIND)
        if w[0] != cls.KIND:
            raise ValueError(f"not a {cls.KIND}")
        return cls(_int(w[1], "view"), _int(w[2], "height", 1), _hash(w[3]), _sender(w[4]),
                   _bytes(w[5], "signature", MAX_SIG_LEN), _int(w[6], "vote time"))


@dataclass(frozen=True)
class PreparedCertificate:
    """2f+1 PREPARE signatures for one (view, height, block hash): the block may have been
    committed by someone, so a later view must re-propose it."""

    height: int
    view: int
    block_hash: bytes
    signatures: tuple[tuple[int, bytes], ...]

    def to_wire(self) -> list:
        return [self.height, self.view, self.block_hash, [[i, s] for i, s in self.signatures]]

    @classmethod
    def from_wire(cls, w: object) -> PreparedCertificate:
        w = _list(w, 4, "prepared certificate")
        return cls(_int(w[0], "height", 1), _int(w[1], "view"), _hash(w[2]),
                   _sig_pairs(w[3], "prepared certificate"))

    def votes(self) -> list[Prepare]:
        return [Prepare(self.view, self.height, self.block_hash, i, s)
                for i, s in self.signatures]


def _cert_from_wire(w: object) -> CommitCertificate:
    cert = CommitCertificate.from_wire(w)
    _int(cert.height, "certificate height", 1)
    _int(cert.view, "certificate view")
    _hash(cert.block_hash)
    _sig_pairs([[i, s] for i, _t, s in cert.signatures], "commit certificate")
    return cert


@dataclass(frozen=True)
class ViewChange:
    """A vote to move to `view`, with the evidence the new leader needs.

    `prepared_block` is the body of the prepared block; it rides along unsigned (the new
    leader validates it through its shell before re-proposing) and is stripped when the
    message is embedded in a NEW-VIEW, so a NEW-VIEW carries at most one block.
    """

    KIND: ClassVar[str] = "view-change"
    DOMAIN: ClassVar[str] = "view-change"
    view: int
    committed_height: int
    committed_cert: CommitCertificate | None
    prepared: PreparedCertificate | None
    sender: int
    signature: bytes = b""
    prepared_block: bytes | None = None

    def signing_payload(self, chain_id: str) -> bytes:
        return codec.encode([self.view, self.committed_height,
                             self.committed_cert.to_wire() if self.committed_cert else None,
                             self.prepared.to_wire() if self.prepared else None])

    def to_wire(self) -> list:
        return [self.KIND, self.view, self.committed_height,
                self.committed_cert.to_wire() if self.committed_cert else None,
                self.prepared.to_wire() if self.prepared else None,
                self.sender, self.signature, self.prepared_block]

    def stripped(self) -> ViewChange:
        return replace(self, prepared_block=None) if self.prepared_block is not None else self

    @classmethod
    def from_wire(cls, w: object) -> ViewChange:
        w = _list(w, 8, "view-change")
        if w[0] != cls.KIND:
            raise ValueError("not a view-change")
        view = _int(w[1], "view", 1)
        committed = _int(w[2], "committed height")
        cert = None if w[3] is None else _cert_from_wire(w[3])
        if (cert is None) != (committed == 0) or (cert and cert.height != committed):
            raise ValueError("committed certificate must match committed height (none at 0)")
        prepared = None if w[4] is None else PreparedCertificate.from_wire(w[4])
        if prepared is not None and (prepared.height != committed + 1 or prepared.view >= view):
            raise ValueError("prepared certificate must be for the next height and an older view")
        block = None if w[7] is None else _bytes(w[7], "prepared block")
        if block is not None and prepared is None:
            raise ValueError("prepared block without a prepared certificate")
        return cls(view, committed, cert, prepared, _sender(w[5]),
                   _bytes(w[6], "signature", MAX_SIG_LEN), block)


@dataclass(frozen=True)
class NewView:
    """The new leader's proof (2f+1 VIEW-CHANGEs) that `view` started, and its re-proposal
    of the highest prepared block, if the VIEW-CHANGEs show one."""

    KIND: ClassVar[str] = "new-view"
    DOMAIN: ClassVar[str] = "new-view"
    view: int
    view_changes: tuple[ViewChange, ...]
    pre_prepare: PrePrepare | None
    sender: int
    signature: bytes = b""

    def signing_payload(self, chain_id: str) -> bytes:
        return codec.encode([self.view, [vc.to_wire() for vc in self.view_changes],
                             self.pre_prepare.to_wire() if self.pre_prepare else None])

    def to_wire(self) -> list:
        return [self.KIND, self.view, [vc.to_wire() for vc in self.view_changes],
                self.pre_prepare.to_wire() if self.pre_prepare else None,
                self.sender, self.signature]

    @classmethod
    def from_wire(cls, w: object) -> NewView:
        w = _list(w, 6, "new-view")
        if w[0] != cls.KIND:
            raise ValueError("not a new-view")
        view = _int(w[1], "view", 1)
        if type(w[2]) is not list or len(w[2]) > MAX_SENDER:
            raise ValueError("new-view view changes must be a list")
        vcs = tuple(ViewChange.from_wire(x) for x in w[2])
        senders = [vc.sender for vc in vcs]
        if senders != sorted(set(senders)):
            raise ValueError("new-view view changes must have distinct, sorted senders")
        if any(vc.view != view or vc.prepared_block is not None for vc in vcs):
            raise ValueError("new-view must embed stripped view changes for its own view")
        pp = None if w[3] is None else PrePrepare.from_wire(w[3])
        if pp is not None and pp.view != view:
            raise ValueError("new-view pre-prepare must be for the new view")
        sender = _sender(w[4])
        if pp is not None and pp.sender != sender:
            raise ValueError("new-view pre-prepare must come from the new-view sender")
        return cls(view, vcs, pp, sender, _bytes(w[5], "signature", MAX_SIG_LEN))


Message = PrePrepare | Prepare | Commit | ViewChange | NewView

_BY_KIND: dict[str, type] = {c.KIND: c for c in (PrePrepare, Prepare, Commit, ViewChange,
                                                  NewView)}


def from_wire(w: object) -> Message:
    """Dispatch on the kind tag in the first element; ValueError if unknown or malformed."""
    if type(w) is not list or not w or type(w[0]) is not str or w[0] not in _BY_KIND:
        raise ValueError("not a consensus message")
    return _BY_KIND[w[0]].from_wire(w)


def encode_message(msg: Message) -> bytes:
    return codec.encode(msg.to_wire())


def decode_message(data: bytes) -> Message:
    """Bytes from the network to a message; ValueError (CodecError included) if malformed."""
    return from_wire(codec.decode(data))


def with_signature(msg, signature: bytes):
    signed = replace(msg, signature=signature)
    if isinstance(msg, PrePrepare) and msg._digest:  # the body is the same: so is its sm3
        object.__setattr__(signed, "_digest", msg._digest)
    return signed
