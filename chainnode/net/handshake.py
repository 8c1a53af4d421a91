"""The SM2 peer handshake that runs inside a fresh TLS session.

TLS (tls.py) proves only that the peer holds *some* certificate from the testnet CA. This
handshake proves which validator or observer it is and binds that identity to this very TLS
session:

1. both sides send HELLO {version, chain_id, genesis_hash, public_key (SM2, 64 bytes), role,
   nonce (32 random bytes)} and check the other's: same chain and genesis, a key the
   `authorizer` admits, not our own key. The peer gets the role the authorizer grants, not
   the one it claims (a claim can be a validator-set change out of date);
2. both sides send AUTH {signature}: SM2 in the "handshake" domain over the transcript
   [side, initiator nonce, responder nonce, initiator cert fingerprint, responder cert
   fingerprint, initiator key, responder key, genesis hash].

Fresh nonces make an AUTH from another session useless (replay); the certificate fingerprints
(SHA-256 of the DER certificates, each side using its own and the one the peer presented)
make an AUTH relayed through a man in the middle useless, because his TLS certificates differ
from the ones the honest peers see; the side label stops an AUTH being reflected back.

The pure functions (Hello, check_hello, auth_transcript, sign_auth, verify_auth) carry the
logic; `run_handshake` is the thin asyncio driver.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chainnode import codec
from chainnode.crypto import domain
from chainnode.crypto.sm2 import PrivateKey, PublicKey, SignatureError
from chainnode.net.framing import FrameDecoder, FrameError, encode_frame

PROTOCOL_VERSION = 2  # 2: forwarded txs travel in batches (`txs`, chainnode.net.txforward)
HELLO = "net/hello"
AUTH = "net/auth"
REJECT = "net/reject"
HANDSHAKE_TYPES = frozenset({HELLO, AUTH, REJECT})
HANDSHAKE_MAX_FRAME = 4096  # an unauthenticated peer never gets to make us buffer more
NONCE_LEN = 32
ROLES = ("validator", "observer")
INITIATOR = "initiator"
RESPONDER = "responder"
_TRANSCRIPT_TAG = "chainnode-p2p-auth/1"

Authorizer = Callable[[bytes], "str | None"]


class HandshakeError(Exception):
    """A handshake that did not complete; `reason` is a stable code, `detail` for humans."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.told_peer = False  # a REJECT went out: linger so the peer can read it


def short_key(public_key: bytes) -> str:
    """How logs name a peer: the start of its hex public key (what genesis files list)."""
    return public_key[:8].hex() if isinstance(public_key, (bytes, bytearray)) else "?"


@dataclass(frozen=True)
class Hello:
    chain_id: str
    genesis_hash: bytes
    public_key: bytes
    role: str
    nonce: bytes
    version: int = PROTOCOL_VERSION

    @classmethod
    def new(cls, chain_id: str, genesis_hash: bytes, public_key: bytes, role: str) -> Hello:
        return cls(chain_id, genesis_hash, public_key, role, secrets.token_bytes(NONCE_LEN))

    def to_wire(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash,
            "public_key": self.public_key,
            "role": self.role,
            "nonce": self.nonce,
        }

    @classmethod
    def from_wire(cls, obj: Any) -> Hello:
        fields = {"version": int, "chain_id": str, "genesis_hash": bytes, "public_key": bytes,
                  "role": str, "nonce": bytes}
        if type(obj) is not dict or set(obj) != set(fields):
            raise HandshakeError("malformed", "HELLO must be a map of exactly " + ", ".join(fields))
        for name, typ in fields.items():
            if type(obj[name]) is not typ:
                raise HandshakeError("malformed", f"HELLO field {name} must be {typ.__name__}")
        if len(obj["nonce"]) != NONCE_LEN:
            raise HandshakeError("malformed", f"HELLO nonce must be {NONCE_LEN} bytes")
        if len(obj["public_key"]) != 64:
            raise HandshakeError("malformed", "HELLO public key must be 64 bytes")
        if len(obj["chain_id"]) > 128 or len(obj["genesis_hash"]) > 64:
            raise HandshakeError("malformed", "HELLO chain id or genesis hash too long")
        return cls(
            chain_id=obj["chain_id"],
            genesis_hash=obj["genesis_hash"],
            public_key=obj["public_key"],
            role=obj["role"],
            nonce=obj["nonce"],
            version=obj["version"],
        )


def check_hello(
    hello: Hello,
    *,
    chain_id: str,
    genesis_hash: bytes,
    own_public_key: bytes,
    authorizer: Authorizer,
) -> str:
    """Validate the peer's HELLO; returns the role the authorizer grants it."""
    if hello.version != PROTOCOL_VERSION:
        raise HandshakeError(
            "wrong-version", f"protocol version {hello.version}, expected {PROTOCOL_VERSION}"
        )
    if hello.chain_id != chain_id:
        raise HandshakeError(
            "wrong-chain", f"chain id {hello.chain_id[:64]!r}, expected {chain_id!r}"
        )
    if hello.genesis_hash != genesis_hash:
        raise HandshakeError(
            "wrong-genesis",
            f"genesis hash {hello.genesis_hash.hex()[:16]}…, expected {genesis_hash.hex()[:16]}…",
        )
    try:
        PublicKey(hello.public_key)
    except SignatureError as exc:
        raise HandshakeError("malformed", f"HELLO public key invalid: {exc}") from exc
    if hello.public_key == own_public_key:
        raise HandshakeError("self-connection", "the peer presented our own public key")
    granted = authorizer(hello.public_key)
    if granted is None:
        raise HandshakeError(
            "not-authorised",
            f"public key {short_key(hello.public_key)}… is not a listed validator or observer",
        )
    # The claimed role is the peer's reading of its own head, which may be a set change
    # behind or ahead of ours (or a validator voted out while it was down). The set of OUR
    # head decides; a member claiming more is admitted with less (an observer: it can sync,
    # its consensus messages never count), never refused, so it can learn of the change.
    return granted


def auth_transcript(
    side: str,
    initiator: Hello,
    responder: Hello,
    initiator_fingerprint: bytes,
    responder_fingerprint: bytes,
) -> bytes:
    if side not in (INITIATOR, RESPONDER):
        raise ValueError(f"unknown side {side!r}")
    return codec.encode([
        _TRANSCRIPT_TAG,
        side,
        initiator.nonce,
        responder.nonce,
        initiator_fingerprint,
        responder_fingerprint,
        initiator.public_key,
        responder.public_key,
        initiator.genesis_hash,
    ])


def sign_auth(key: PrivateKey, chain_id: str, transcript: bytes) -> bytes:
    return domain.sign(key, "handshake", chain_id, transcript)


def verify_auth(public_key: bytes, chain_id: str, transcript: bytes, signature: Any) -> bool:
    if type(signature) is not bytes or len(signature) != 64:
        return False
    try:
        pub = PublicKey(public_key)
    except SignatureError:
        return False
    return domain.verify(pub, "handshake", chain_id, transcript, signature)


@dataclass(frozen=True)
class HandshakeResult:
    public_key: bytes
    role: str
    peer_hello: Hello


async def read_message(reader: asyncio.StreamReader, decoder: FrameDecoder) -> tuple[str, Any]:
    """Next framed message from the stream; HandshakeError on EOF or a bad frame."""
    while True:
        try:
            msg = decoder.next_message()
            if msg is not None:
                return msg.msg_type, msg.payload
            data = await reader.read(65536)
            if not data:
                decoder.close()
                raise HandshakeError("closed", "peer closed the connection during the handshake")
            decoder.feed(data)
        except FrameError as exc:
            raise HandshakeError("malformed", f"bad frame during handshake: {exc}") from exc


def _raise_if_reject(msg_type: str, payload: Any, expected: str) -> None:
    if msg_type == REJECT:
        reason = payload.get("reason") if type(payload) is dict else None
        detail = payload.get("detail") if type(payload) is dict else None
        raise HandshakeError(
            "rejected-by-peer",
            f"{str(reason)[:40] if reason else 'unspecified'}: {str(detail)[:200] if detail else ''}",
        )
    if msg_type != expected:
        raise HandshakeError("malformed", f"expected {expected}, got {msg_type}")


async def run_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    decoder: FrameDecoder,
    *,
    initiator: bool,
    chain_id: str,
    genesis_hash: bytes,
    key: PrivateKey,
    role: str,
    own_fingerprint: bytes,
    peer_fingerprint: bytes,
    authorizer: Authorizer,
    refuse: Callable[[bytes], str | None] | None = None,
    timeout: float = 10.0,
) -> HandshakeResult:
    """Run both HELLO/AUTH exchanges on an established TLS stream.

    `decoder` must be fresh; on success it may already hold frames the peer sent after its
    AUTH. `refuse(public_key)` may return a reason to turn an otherwise valid peer away
    (a ban). On a local rejection the peer is sent REJECT {reason, detail} before the error
    propagates, so both operators see why.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    decoder.set_limits(max_frame=HANDSHAKE_MAX_FRAME, allowed_types=HANDSHAKE_TYPES)
    ours = Hello.new(chain_id, genesis_hash, key.public_key.raw, role)
    try:
        async with asyncio.timeout(timeout):
            writer.write(encode_frame(HELLO, ours.to_wire()))
            await writer.drain()
            msg_type, payload = await read_message(reader, decoder)
            _raise_if_reject(msg_type, payload, HELLO)
            try:
                theirs = Hello.from_wire(payload)
                granted = check_hello(
                    theirs,
                    chain_id=chain_id,
                    genesis_hash=genesis_hash,
                    own_public_key=ours.public_key,
                    authorizer=authorizer,
                )
                if refuse is not None and (why := refuse(theirs.public_key)):
                    raise HandshakeError("banned", why)
            except HandshakeError as exc:
                await _send_reject(writer, exc)
                raise
            init, resp = (ours, theirs) if initiator else (theirs, ours)
            init_fp, resp_fp = (
                (own_fingerprint, peer_fingerprint) if initiator
                else (peer_fingerprint, own_fingerprint)
            )
            my_side, their_side = (INITIATOR, RESPONDER) if initiator else (RESPONDER, INITIATOR)
            signature = await asyncio.to_thread(
                sign_auth, key, chain_id, auth_transcript(my_side, init, resp, init_fp, resp_fp)
            )
            writer.write(encode_frame(AUTH, {"signature": signature}))
            await writer.drain()
            msg_type, payload = await read_message(reader, decoder)
            _raise_if_reject(msg_type, payload, AUTH)
            sig = payload.get("signature") if type(payload) is dict else None
            expected = auth_transcript(their_side, init, resp, init_fp, resp_fp)
            if not await asyncio.to_thread(
                verify_auth, theirs.public_key, chain_id, expected, sig
            ):
                exc = HandshakeError(
                    "bad-signature",
                    f"AUTH from key {short_key(theirs.public_key)}… does not verify for this "
                    "session (replayed, relayed or forged)",
                )
                await _send_reject(writer, exc)
                raise exc
    except TimeoutError as exc:
        raise HandshakeError("timeout", f"handshake not finished within {timeout:g} s") from exc
    except (ConnectionError, OSError) as exc:
        raise HandshakeError("closed", f"connection lost during the handshake: {exc}") from exc
    return HandshakeResult(theirs.public_key, granted, theirs)


async def _send_reject(writer: asyncio.StreamWriter, exc: HandshakeError) -> None:
    """Best effort: tell the peer why before closing; never blocks for long."""
    try:
        writer.write(encode_frame(REJECT, {"reason": exc.reason, "detail": exc.detail[:200]}))
        await asyncio.wait_for(writer.drain(), 1.0)
        exc.told_peer = True
    except (ConnectionError, OSError, TimeoutError, FrameError):
        pass


async def linger(reader: asyncio.StreamReader, timeout: float = 0.5) -> None:
    """Discard input until EOF or `timeout`, before closing after a REJECT.

    Closing a TCP socket with unread input sends a reset, and a reset makes the peer's
    kernel discard what it has not yet read, REJECT included; so read what the peer still
    sends (its AUTH, typically) until it has read our REJECT and hung up.
    """
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(4096):
                pass
    except (TimeoutError, ConnectionError, OSError):
        pass
