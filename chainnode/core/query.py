"""Signed queries: how a read-only call proves who is asking.

A query runs with `ctx.sender` (and `ctx.caller`) set only when it carries a signature in the
`query` signing domain over

    codec.encode(["query", contract, method, args, time_ms, nonce])

(`time_ms`: the client's wall clock in milliseconds; `nonce`: 16 random bytes). The domain tag
and chain id are prefixed by chainnode.crypto.domain, so a query signature can never be a
transaction or a vote, nor be used on another chain. Freshness and replay: a node accepts a
signed query only while |node clock - time_ms| <= its `query_auth_window_ms` (node.json,
default 60 s), and only once: it remembers every signature it accepted until that window has
passed (chainnode.rpc.querygate.ReplayGuard). A query without `auth` runs anonymously:
`ctx.sender == ctx.caller == ""`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from chainnode import codec
from chainnode.clock import wall_ms
from chainnode.crypto import domain
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey, PublicKey, SignatureError

QUERY_DOMAIN = "query"
NONCE_LEN = 16


class QueryAuthError(ValueError):
    """The `auth` object is malformed (a 400), as opposed to a bad signature (a 401)."""


def signing_payload(contract: str, method: str, args: dict, time_ms: int, nonce: bytes) -> bytes:
    return codec.encode(["query", contract, method, args, time_ms, nonce])


def sign_query(key: PrivateKey, chain_id: str, contract: str, method: str, args: dict, *,
               time_ms: int | None = None, nonce: bytes | None = None) -> dict[str, Any]:
    """The JSON `auth` object for POST /query (the SDK and CLI use this)."""
    t = wall_ms() if time_ms is None else time_ms
    n = secrets.token_bytes(NONCE_LEN) if nonce is None else nonce
    sig = domain.sign(key, QUERY_DOMAIN, chain_id, signing_payload(contract, method, args, t, n))
    return {"public_key": key.public_key.raw.hex(), "time_ms": t, "nonce": n.hex(),
            "signature": sig.hex()}


@dataclass(frozen=True)
class SignedQuery:
    public_key: bytes
    time_ms: int
    nonce: bytes
    signature: bytes
    payload: bytes

    @property
    def sender(self) -> str:
        return address_of(self.public_key)

    def verify(self, chain_id: str) -> bool:
        """SM2 verification (~0.4 ms): call it off the event loop."""
        try:
            return domain.verify(PublicKey(self.public_key), QUERY_DOMAIN, chain_id,
                                 self.payload, self.signature)
        except (SignatureError, ValueError):
            return False


def parse_auth(auth: Any, contract: str, method: str, args: dict) -> SignedQuery:
    """Check the shape of an `auth` object; raise QueryAuthError naming what is wrong."""
    if not isinstance(auth, dict) or set(auth) != {"public_key", "time_ms", "nonce",
                                                   "signature"}:
        raise QueryAuthError('auth must be {"public_key", "time_ms", "nonce", "signature"}')
    try:
        pub = bytes.fromhex(auth["public_key"])
        nonce = bytes.fromhex(auth["nonce"])
        sig = bytes.fromhex(auth["signature"])
    except (TypeError, ValueError):
        raise QueryAuthError("auth public_key, nonce and signature must be hex") from None
    t = auth["time_ms"]
    if type(t) is not int or not 0 <= t < 1 << 63:
        raise QueryAuthError("auth time_ms must be a non-negative integer")
    if len(pub) != 64 or len(nonce) != NONCE_LEN or len(sig) != 64:
        raise QueryAuthError("auth needs a 64-byte public key, 16-byte nonce, 64-byte signature")
    try:
        payload = signing_payload(contract, method, args, t, nonce)
    except codec.CodecError as exc:
        raise QueryAuthError(f"query args cannot be signed: {exc.message}") from None
    return SignedQuery(pub, t, nonce, sig, payload)
