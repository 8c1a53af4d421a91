"""Transactions: signed requests to deploy, call a contract, or call a system contract.

Replay protection is FISCO BCOS style: a random 16-byte nonce plus `expires_at` (the last block
height at which the tx is valid). Nodes remember committed tx hashes for the window, so clients
never coordinate nonces. The tx hash covers everything but the signature.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, fields
from typing import Any

from chainnode import codec
from chainnode.crypto import domain
from chainnode.crypto.address import address_of
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import PrivateKey, PublicKey, SignatureError, check_public_key
from chainnode.errors import TX_MALFORMED, TX_TOO_LARGE, ChainError

KINDS = ("deploy", "call", "system")
NAME_RE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
METHOD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_TX_BYTES = 256 * 1024
NONCE_LEN = 16
CHAIN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_WIRE_HEAD, _BODY_HEAD = codec.array_header(10), codec.array_header(9)
_SIG_HEAD = codec.encode(bytes(64))[:2]
_SIG_TAIL = len(_SIG_HEAD) + 64


@dataclass(frozen=True)
class Transaction:
    chain_id: str
    nonce: bytes
    expires_at: int
    sender: bytes  # 64-byte SM2 public key X||Y
    kind: str
    contract: str
    method: str
    args: dict[str, Any]
    gas_limit: int
    signature: bytes = b""
    hash: bytes = field(default=b"", compare=False, repr=False)
    # canonical encodings, computed once: a frozen tx encodes to the same bytes every time,
    # and the mempool, forwarding and hashing/verification would otherwise redo them per use
    _raw: bytes = field(default=b"", init=False, compare=False, repr=False)
    _body_raw: bytes = field(default=b"", init=False, compare=False, repr=False)

    def __hash__(self) -> int:  # args is a dict: hash by the tx hash instead
        return hash(self.hash or self.compute_hash())

    def body(self) -> list:
        return [self.chain_id, self.nonce, self.expires_at, self.sender, self.kind,
                self.contract, self.method, self.args, self.gas_limit]

    def body_bytes(self) -> bytes:
        if not self._body_raw:
            object.__setattr__(self, "_body_raw", codec.encode(self.body()))
        return self._body_raw

    def compute_hash(self) -> bytes:
        return sm3(self.body_bytes())

    @property
    def sender_address(self) -> str:
        return address_of(self.sender)

    def to_wire(self) -> list:
        return self.body() + [self.signature]

    def encode(self) -> bytes:
        if not self._raw:
            object.__setattr__(self, "_raw", codec.encode(self.to_wire()))
        return self._raw

    @classmethod
    def from_wire(cls, w: Any, raw: bytes = b"") -> Transaction:
        """The tx `w` describes; `raw`, when given, must be w's canonical encoding (it has
        passed codec.decode): it is kept as the tx's bytes, and the body's bytes are cut from
        it rather than encoded again."""
        if not isinstance(w, list) or len(w) != 10:
            raise ChainError(TX_MALFORMED, "transaction must be a 10-element list")
        chain_id, nonce, expires_at, sender, kind, contract, method, args, gas, sig = w
        # in field order, the first failure named: the messages are built only on failure
        if not (isinstance(chain_id, str) and CHAIN_ID_RE.fullmatch(chain_id) is not None):
            raise _invalid("chain_id")
        if not (isinstance(nonce, bytes) and len(nonce) == NONCE_LEN):
            raise _invalid("nonce (16 bytes)")
        if not (type(expires_at) is int and expires_at >= 0):
            raise _invalid("expires_at")
        if not (isinstance(sender, bytes) and len(sender) == 64):
            raise _invalid("sender public key (64 bytes)")
        if kind not in KINDS:
            raise _invalid(f"kind (one of {', '.join(KINDS)})")
        if not (isinstance(contract, str) and NAME_RE.fullmatch(contract) is not None):
            raise _invalid("contract name")
        if not (isinstance(method, str) and METHOD_RE.fullmatch(method) is not None):
            raise _invalid("method name")
        if not isinstance(args, dict):
            raise _invalid("args (a map)")
        if not (type(gas) is int and gas > 0):
            raise _invalid("gas_limit")
        if not (isinstance(sig, bytes) and len(sig) == 64):
            raise _invalid("signature (64 bytes)")
        try:
            check_public_key(sender)  # remembered per key: senders repeat across txs
        except SignatureError as exc:
            raise ChainError(TX_MALFORMED, str(exc)) from exc
        if raw[:1] == _WIRE_HEAD and raw[-_SIG_TAIL:-64] == _SIG_HEAD:
            # [f1..f9, sig] encodes as a 10-array header, f1..f9, then the 64-byte signature
            # (c4 40 + 64 bytes); the body [f1..f9] is the same items under a 9-array header
            body_raw = _BODY_HEAD + raw[1:-_SIG_TAIL]
            if cls is Transaction:
                return _assemble(chain_id, nonce, expires_at, sender, kind, contract, method,
                                 args, gas, sig, sm3(body_raw), raw, body_raw)
            tx = cls(chain_id, nonce, expires_at, sender, kind, contract, method, args, gas, sig)
            object.__setattr__(tx, "_raw", raw)
            object.__setattr__(tx, "_body_raw", body_raw)
        else:
            tx = cls(chain_id, nonce, expires_at, sender, kind, contract, method, args, gas, sig)
        object.__setattr__(tx, "hash", tx.compute_hash())
        return tx

    @classmethod
    def decode(cls, data: bytes, max_bytes: int = MAX_TX_BYTES) -> Transaction:
        if len(data) > max_bytes:
            raise ChainError(TX_TOO_LARGE, f"transaction is {len(data)} bytes, limit {max_bytes}")
        try:
            w = codec.decode(data, max_size=max_bytes)
        except codec.CodecError as exc:
            raise ChainError(TX_MALFORMED, f"undecodable transaction: {exc.message}") from exc
        return cls.from_wire(w, bytes(data))  # codec.decode accepts canonical bytes only

    def verify_signature(self) -> bool:
        return domain.verify(PublicKey(self.sender), "tx", self.chain_id, self.body_bytes(),
                             self.signature)

    def to_json(self) -> dict:
        return {
            "hash": self.hash.hex(), "chain_id": self.chain_id, "nonce": self.nonce.hex(),
            "expires_at": self.expires_at, "sender": self.sender_address,
            "sender_public_key": self.sender.hex(), "kind": self.kind,
            "contract": self.contract, "method": self.method, "args": _jsonable(self.args),
            "gas_limit": self.gas_limit, "signature": self.signature.hex(),
        }

    # -- the tx_root leaf. Kept at the end of the class (a field with a default may follow
    # methods in a dataclass): the tx hash is the tx's id and leaves out the signature, so
    # the block's Merkle root needs a second digest that does not.
    WITNESS_TAG = b"chainnode/tx-witness\x00"  # plain class attribute, not a field
    _witness: bytes = field(default=b"", init=False, compare=False, repr=False)

    def witness_hash(self) -> bytes:
        """SM3(b"chainnode/tx-witness" 0x00 || hash || signature): the tx's leaf in a block's
        tx_root, so a certified header commits to every signature byte in the block, not only
        to the bodies. Without it a Byzantine leader or sync peer could serve a body whose
        txs have the certified hashes but other signature bytes, and nodes that skip the
        per-tx check for certified blocks would store and serve diverging bodies.

        Why hash || signature rather than SM3 of the full wire bytes: it commits to exactly
        the same data (the wire form is the body plus the signature, and `hash` binds the
        body), costs one two-block SM3 per tx whatever the args' size (the body was hashed
        once already, for the id), and a client holding a tx's hash and signature (its JSON)
        recomputes the leaf without re-encoding the body. `hash` is 32 bytes, so the
        concatenation is unambiguous; the tag keeps the digest apart from every other SM3
        preimage of the protocol. `hash` stays the tx id (receipts, replay window, mempool).

        Cached: the tx is frozen, and `hash` is computed from the body whenever a tx is
        decoded or built (from_wire, build_tx)."""
        if not self._witness:
            object.__setattr__(self, "_witness", sm3(
                self.WITNESS_TAG + (self.hash or self.compute_hash()) + self.signature))
        return self._witness


# The fields in declaration order: _assemble fills exactly these (checked at import, so a new
# field cannot be silently left unset on decoded transactions).
_FIELDS = ("chain_id", "nonce", "expires_at", "sender", "kind", "contract", "method", "args",
           "gas_limit", "signature", "hash", "_raw", "_body_raw", "_witness")
if tuple(f.name for f in fields(Transaction)) != _FIELDS or hasattr(Transaction,
                                                                      "__post_init__"):
    raise RuntimeError("Transaction's fields changed: update _FIELDS and _assemble")
_new = object.__new__


def _assemble(chain_id: str, nonce: bytes, expires_at: int, sender: bytes, kind: str,
              contract: str, method: str, args: dict, gas_limit: int, signature: bytes,
              tx_hash: bytes, raw: bytes, body_raw: bytes) -> Transaction:
    """The Transaction the generated __init__ would build from checked fields, without its
    per-field frozen-dataclass setattr calls (decoding runs once per tx per node)."""
    tx = _new(Transaction)
    tx.__dict__.update(chain_id=chain_id, nonce=nonce, expires_at=expires_at, sender=sender,
                       kind=kind, contract=contract, method=method, args=args,
                       gas_limit=gas_limit, signature=signature, hash=tx_hash, _raw=raw,
                       _body_raw=body_raw, _witness=b"")
    return tx


def _invalid(what: str) -> ChainError:
    return ChainError(TX_MALFORMED, f"invalid {what}")


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"hex": v.hex()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def build_tx(key: PrivateKey, chain_id: str, kind: str, contract: str, method: str,
             args: dict[str, Any], *, expires_at: int, gas_limit: int = 1_000_000,
             nonce: bytes | None = None) -> Transaction:
    """Build and sign a transaction (the SDK and CLI use this)."""
    tx = Transaction(chain_id, nonce or secrets.token_bytes(NONCE_LEN), expires_at,
                     key.public_key.raw, kind, contract, method, args, gas_limit)
    codec.encode(tx.body())  # fail early on non-codec args
    sig = domain.sign(key, "tx", chain_id, tx.body_bytes())
    signed = Transaction(chain_id, tx.nonce, expires_at, tx.sender, kind, contract, method,
                         args, gas_limit, sig)
    object.__setattr__(signed, "hash", signed.compute_hash())
    return signed
