"""Light client of another chainnode chain: verify certified headers, follow validator sets.

Sans-IO: every function takes the trusted state, what a relayer submitted and the host chain's
BFT time (`now_ms`), and returns the new state or raises AnchorError. No storage, no clock.

Trust rule (DESIGN §13): a header is accepted when 2f+1 distinct validators of the set the
client trusts signed its COMMIT, in the `commit` signing domain of the OTHER chain's id. The
client trusts exactly one set at a time: the one the latest trusted header named as
`next_validators_hash`. A header that announces a different next set must come with that set
(hashing to it), so the client follows every change sequentially; no 1/3 "skipping" rule, since
a 1- or 4-validator edge chain can replace its whole set at once. Skipping heights is allowed
only while the signing set is the trusted one (and only if the client's `allow_skip` is on).

Order of checks: status, shapes and sizes, chain ids, heights, links, times, set hashes, signer
indexes and the quorum count — all cheap — and only then gas for every signature and the SM2
verifications themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from chainnode import codec
from chainnode.anchor.errors import (
    BAD_CERT,
    BAD_HEADER,
    BAD_LINK,
    BAD_PARAMS,
    BAD_SIGNATURE,
    BAD_VALSET,
    CERT_MISMATCH,
    DUPLICATE_SIGNER,
    EXPIRED,
    FROZEN,
    HEADER_TOO_OLD,
    NO_QUORUM,
    NOT_ADJACENT,
    STALE_HEIGHT,
    TIME_DRIFT,
    TIME_NOT_MONOTONIC,
    VALSET_HASH,
    VALSET_MISMATCH,
    VALSET_REQUIRED,
    VALSET_TOO_LARGE,
    WRONG_CHAIN,
    AnchorError,
    need,
)
from chainnode.core.block import BlockHeader
from chainnode.core.certificate import CommitCertificate, quorum, vote_payload
from chainnode.core.tx import CHAIN_ID_RE
from chainnode.crypto import domain
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import PublicKey, SignatureError

# hard caps, whatever a client's parameters say
HARD_MAX_VALIDATORS = 128
MAX_HEADER_BYTES = 512  # an encoded header is ~330 bytes with a 64-character chain id
MAX_SIG_BYTES = 80  # SM2 signatures are 64 bytes (r||s) here; DER would be <= 72
MAX_WINDOW = 4096
MAX_NAME = 64
# Gas per SM2 verification: 350-450 us of CPU each with tongsuopy on the reference machine,
# i.e. <= 0.075 us per gas, under the VM's documented worst case (docs/contracts.md). The
# pure-Python gmssl fallback (~12 ms) is not priced for: validators must run tongsuopy.
SIG_GAS = 6_000

ACTIVE, EXPIRED_STATUS, FROZEN_STATUS = "active", "expired", "frozen"

Validators = tuple[tuple[str, bytes], ...]
Charge = Callable[[int], None]


def _no_charge(_: int) -> None:
    return None


@dataclass(frozen=True)
class ClientParams:
    trusting_period_ms: int
    max_clock_drift_ms: int
    max_validators: int = 64
    window: int = 256  # anchored heights kept; older ones are pruned
    allow_skip: bool = True  # accept non-adjacent headers signed by the trusted set

    def to_wire(self) -> dict:
        return {"trusting_period_ms": self.trusting_period_ms,
                "max_clock_drift_ms": self.max_clock_drift_ms,
                "max_validators": self.max_validators, "window": self.window,
                "allow_skip": self.allow_skip}

    @classmethod
    def from_wire(cls, w: Any) -> ClientParams:
        need(isinstance(w, dict), BAD_PARAMS, "client params must be a map")
        extra = sorted(set(w) - {"trusting_period_ms", "max_clock_drift_ms", "max_validators",
                                 "window", "allow_skip"})
        need(not extra, BAD_PARAMS, f"unexpected client params {extra}")
        tp, drift = w.get("trusting_period_ms"), w.get("max_clock_drift_ms")
        mv, window = w.get("max_validators", 64), w.get("window", 256)
        skip = w.get("allow_skip", True)
        need(type(tp) is int and 1_000 <= tp <= 10 * 365 * 86_400_000, BAD_PARAMS,
             "trusting_period_ms must be an int between 1 s and 10 years")
        need(type(drift) is int and 0 <= drift <= 3_600_000, BAD_PARAMS,
             "max_clock_drift_ms must be an int between 0 and one hour")
        need(type(mv) is int and 1 <= mv <= HARD_MAX_VALIDATORS, BAD_PARAMS,
             f"max_validators must be an int between 1 and {HARD_MAX_VALIDATORS}")
        need(type(window) is int and 1 <= window <= MAX_WINDOW, BAD_PARAMS,
             f"window must be an int between 1 and {MAX_WINDOW}")
        need(type(skip) is bool, BAD_PARAMS, "allow_skip must be true or false")
        return cls(tp, drift, mv, window, skip)


@dataclass(frozen=True)
class ConsensusState:
    """What the client keeps per anchored height: enough to check proofs and misbehaviour."""

    height: int
    header_hash: bytes
    state_root: bytes
    tx_root: bytes
    receipt_root: bytes
    time_ms: int
    validators_hash: bytes
    next_validators_hash: bytes

    @classmethod
    def of(cls, h: BlockHeader) -> ConsensusState:
        return cls(h.height, h.hash(), h.state_root, h.tx_root, h.receipt_root, h.timestamp_ms,
                   h.validators_hash, h.next_validators_hash)

    def to_wire(self) -> dict:
        return {"height": self.height, "header_hash": self.header_hash,
                "state_root": self.state_root, "tx_root": self.tx_root,
                "receipt_root": self.receipt_root, "time_ms": self.time_ms,
                "validators_hash": self.validators_hash,
                "next_validators_hash": self.next_validators_hash}

    @classmethod
    def from_wire(cls, w: dict) -> ConsensusState:
        return cls(w["height"], w["header_hash"], w["state_root"], w["tx_root"],
                   w["receipt_root"], w["time_ms"], w["validators_hash"],
                   w["next_validators_hash"])

    def to_json(self) -> dict:
        return {k: (v.hex() if isinstance(v, bytes) else v) for k, v in self.to_wire().items()}


@dataclass(frozen=True)
class ClientState:
    chain_id: str
    genesis_hash: bytes
    params: ClientParams
    latest: ConsensusState
    validators: Validators  # the trusted set: hashes to latest.next_validators_hash
    updated_at_ms: int  # host BFT time of the last update (create/recover: the header's time)
    frozen_height: int = 0  # 0: not frozen
    evidence_hash: bytes = b""

    def to_wire(self) -> dict:
        return {"chain_id": self.chain_id, "genesis_hash": self.genesis_hash,
                "params": self.params.to_wire(), "latest": self.latest.to_wire(),
                "validators": [[n, k] for n, k in self.validators],
                "updated_at_ms": self.updated_at_ms, "frozen_height": self.frozen_height,
                "evidence_hash": self.evidence_hash}

    @classmethod
    def from_wire(cls, w: dict) -> ClientState:
        return cls(w["chain_id"], w["genesis_hash"], ClientParams.from_wire(w["params"]),
                   ConsensusState.from_wire(w["latest"]),
                   tuple((n, k) for n, k in w["validators"]), w["updated_at_ms"],
                   w["frozen_height"], w["evidence_hash"])

    def to_json(self, now_ms: int) -> dict:
        return {"chain_id": self.chain_id, "genesis_hash": self.genesis_hash.hex(),
                "status": status(self, now_ms), "latest_height": self.latest.height,
                "latest_time_ms": self.latest.time_ms, "updated_at_ms": self.updated_at_ms,
                "expires_at_ms": self.updated_at_ms + self.params.trusting_period_ms,
                "validators": len(self.validators), "frozen_height": self.frozen_height,
                "params": self.params.to_wire()}


def status(client: ClientState, now_ms: int) -> str:
    """Frozen (misbehaviour seen) beats Expired (no update within the trusting period, in the
    host chain's BFT time) beats Active."""
    if client.frozen_height:
        return FROZEN_STATUS
    if now_ms > client.updated_at_ms + client.params.trusting_period_ms:
        return EXPIRED_STATUS
    return ACTIVE


def require_active(client: ClientState, now_ms: int) -> None:
    st = status(client, now_ms)
    need(st != FROZEN_STATUS, FROZEN,
         f"client of {client.chain_id} is frozen since height {client.frozen_height}; "
         "only a governance recover-client proposal can unfreeze it")
    need(st != EXPIRED_STATUS, EXPIRED,
         f"client of {client.chain_id} expired: no update within "
         f"{client.params.trusting_period_ms} ms; only a governance recover-client "
         "proposal can revive it")


# -- wire parsing (cheap, before any signature) ------------------------------------------------


def parse_header(w: Any) -> BlockHeader:
    try:
        need(len(codec.encode(w)) <= MAX_HEADER_BYTES, BAD_HEADER,
             f"header larger than {MAX_HEADER_BYTES} bytes")
        return BlockHeader.from_wire(w)
    except (ValueError, codec.CodecError) as exc:
        raise AnchorError(BAD_HEADER, f"malformed header: {exc}") from None


def parse_certificate(w: Any, max_signatures: int) -> CommitCertificate:
    need(isinstance(w, list) and len(w) == 5 and isinstance(w[4], list), BAD_CERT,
         "certificate must be [chain_id, height, view, block_hash, votes]")
    need(len(w[4]) <= max_signatures, BAD_CERT,
         f"certificate carries more than {max_signatures} votes")
    try:
        cert = CommitCertificate.from_wire(w)
    except ValueError as exc:
        raise AnchorError(BAD_CERT, f"malformed certificate: {exc}") from None
    need(all(len(s) <= MAX_SIG_BYTES for _, _, s in cert.signatures), BAD_CERT,
         f"a signature is longer than {MAX_SIG_BYTES} bytes")
    return cert


def parse_validators(w: Any, max_validators: int) -> Validators:
    """A validator set as the other chain commits it: [[name, 64-byte SM2 key], ...]."""
    need(isinstance(w, list) and len(w) >= 1, BAD_VALSET, "validator set must be a non-empty list")
    need(len(w) <= min(max_validators, HARD_MAX_VALIDATORS), VALSET_TOO_LARGE,
         f"validator set of {len(w)} exceeds the cap of {min(max_validators, HARD_MAX_VALIDATORS)}")
    out = []
    for v in w:
        need(isinstance(v, list) and len(v) == 2 and isinstance(v[0], str)
             and 1 <= len(v[0]) <= MAX_NAME and type(v[1]) is bytes, BAD_VALSET,
             "validator entry must be [name, public key bytes]")
        try:
            PublicKey(v[1])
        except (SignatureError, ValueError):
            raise AnchorError(BAD_VALSET, f"validator {v[0]!r} has no valid SM2 key") from None
        out.append((v[0], v[1]))
    need(len({k for _, k in out}) == len(out), BAD_VALSET, "a public key appears twice")
    need(len({n for n, _ in out}) == len(out), BAD_VALSET, "a validator name appears twice")
    return tuple(out)


def valset_hash(vs: Validators) -> bytes:
    """The other chain's validators_hash: SM3 of the canonical [[name, key], ...] list."""
    return sm3(codec.encode([[n, k] for n, k in vs]))


# -- certificates --------------------------------------------------------------------------------


def check_signers(cert: CommitCertificate, n: int) -> None:
    """Cheap: distinct in-range indexes, at least 2f+1 of them."""
    idx = list(cert.signers)
    need(len(set(idx)) == len(idx), DUPLICATE_SIGNER,
         "a validator index appears twice in the certificate")
    need(idx == sorted(idx), BAD_CERT, "certificate votes must be sorted by validator index")
    need(all(0 <= i < n for i in idx), BAD_CERT, "certificate signer index out of range")
    q = quorum(n)
    need(len(idx) >= q, NO_QUORUM,
         f"certificate has {len(idx)} distinct signers of {n}; 2f+1 = {q} needed")


def verify_signatures(chain_id: str, cert: CommitCertificate, vs: Validators,
                      charge: Charge) -> None:
    """Every vote must be an SM2 signature of that validator in the `commit` domain of
    `chain_id` (so a vote signed for another chain or purpose is refused)."""
    charge(SIG_GAS * len(cert.signatures))
    for i, t, sig in cert.signatures:
        payload = vote_payload("commit", chain_id, cert.view, cert.height, cert.block_hash, t)
        try:
            ok = domain.verify(PublicKey(vs[i][1]), "commit", chain_id, payload, sig)
        except (SignatureError, ValueError):
            ok = False
        need(ok, BAD_SIGNATURE, f"signature of validator {i} ({vs[i][0]}) does not verify "
             f"as a commit vote of chain {chain_id} at height {cert.height}")


def verify_certified(chain_id: str, header: BlockHeader, cert: CommitCertificate,
                     vs: Validators, charge: Charge) -> None:
    """`cert` is a quorum certificate of `vs` for exactly this header of `chain_id`."""
    need(header.chain_id == chain_id, WRONG_CHAIN,
         f"header is for chain {header.chain_id!r}, the client tracks {chain_id!r}")
    need(cert.chain_id == chain_id, WRONG_CHAIN,
         f"certificate is for chain {cert.chain_id!r}, the client tracks {chain_id!r}")
    need(cert.height == header.height and cert.block_hash == header.hash(), CERT_MISMATCH,
         "certificate is for another height or block than the header")
    need(valset_hash(vs) == header.validators_hash, VALSET_MISMATCH,
         "the header names another validator set")
    check_signers(cert, len(vs))
    verify_signatures(chain_id, cert, vs, charge)


# -- create / update -----------------------------------------------------------------------------


def create(chain_id: str, genesis_hash: bytes, header_w: Any, validators_w: Any,
           params: ClientParams) -> ClientState:
    """A client trusting `header` (chosen by governance, so no certificate is checked) and
    `validators`, the set that signs the header after it (hashes to next_validators_hash)."""
    need(isinstance(chain_id, str) and CHAIN_ID_RE.fullmatch(chain_id) is not None, BAD_PARAMS,
         "chain_id must be a chain id")
    need(type(genesis_hash) is bytes and len(genesis_hash) == 32, BAD_PARAMS,
         "genesis_hash must be 32 bytes")
    header = parse_header(header_w)
    need(header.chain_id == chain_id, WRONG_CHAIN, "the trusted header is for another chain")
    need(header.height >= 1, BAD_HEADER, "the trusted header must be a block (height >= 1)")
    if header.height == 1:
        need(header.prev_hash == genesis_hash, BAD_HEADER,
             "block 1's prev_hash is not the given genesis hash")
    vs = parse_validators(validators_w, params.max_validators)
    need(valset_hash(vs) == header.next_validators_hash, VALSET_HASH,
         "validator set does not hash to the trusted header's next_validators_hash")
    return ClientState(chain_id, genesis_hash, params, ConsensusState.of(header), vs,
                       header.timestamp_ms)


def update(client: ClientState, header_w: Any, cert_w: Any, next_validators_w: Any,
           now_ms: int, charge: Charge = _no_charge) -> tuple[ClientState, ConsensusState]:
    """Verify one certified header against the trusted state; return the new state.

    `next_validators_w` is required exactly when the header's next_validators_hash differs
    from its validators_hash (the set changes after it), and must hash to it.
    """
    require_active(client, now_ms)
    p, latest = client.params, client.latest
    header = parse_header(header_w)
    cert = parse_certificate(cert_w, len(client.validators))
    need(header.chain_id == client.chain_id, WRONG_CHAIN,
         f"header is for chain {header.chain_id!r}, the client tracks {client.chain_id!r}")
    need(header.height > latest.height, STALE_HEIGHT,
         f"header height {header.height} is not above the trusted height {latest.height}")
    adjacent = header.height == latest.height + 1
    if adjacent:
        need(header.prev_hash == latest.header_hash, BAD_LINK,
             f"header {header.height} does not extend the trusted header {latest.height}")
    else:
        need(p.allow_skip, NOT_ADJACENT,
             f"this client only accepts height {latest.height + 1} next")
    need(header.timestamp_ms > latest.time_ms, TIME_NOT_MONOTONIC,
         f"header time {header.timestamp_ms} is not after the trusted time {latest.time_ms}")
    need(header.timestamp_ms <= now_ms + p.max_clock_drift_ms, TIME_DRIFT,
         f"header time {header.timestamp_ms} is more than {p.max_clock_drift_ms} ms ahead "
         f"of the host chain's time {now_ms}")
    # An update renews the client for a trusting period: only a header that is itself within
    # one may do so, or genuine old headers relayed one by one would keep trusting a set long
    # after it signed them (and after it may have left the other chain).
    need(header.timestamp_ms + p.trusting_period_ms > now_ms, HEADER_TOO_OLD,
         f"header time {header.timestamp_ms} is more than the trusting period "
         f"({p.trusting_period_ms} ms) before the host chain's time {now_ms}; relay a newer "
         "header")
    need(header.validators_hash == latest.next_validators_hash, VALSET_MISMATCH,
         f"header {header.height} is signed by a validator set the client does not trust "
         f"(it trusts the set named by height {latest.height}); relay every header where "
         "the set changes")
    new_vs = client.validators
    if header.next_validators_hash != header.validators_hash or next_validators_w is not None:
        need(next_validators_w is not None, VALSET_REQUIRED,
             f"header {header.height} announces a new validator set; submit it")
        new_vs = parse_validators(next_validators_w, p.max_validators)
        need(valset_hash(new_vs) == header.next_validators_hash, VALSET_HASH,
             "the submitted validator set does not hash to the header's next_validators_hash")
    verify_certified(client.chain_id, header, cert, client.validators, charge)
    cons = ConsensusState.of(header)
    return replace(client, latest=cons, validators=new_vs, updated_at_ms=now_ms), cons
