"""Stable error codes of the light client, proofs and packets (docs/sidechains.md lists them).

Each refused case has its own code so a relayer (and a test) can tell them apart without
parsing messages.
"""

from __future__ import annotations

# client lifecycle
NO_CLIENT = "ANCHOR_NO_CLIENT"  # no client for that chain id (a non-registered chain)
CLIENT_EXISTS = "ANCHOR_CLIENT_EXISTS"
FROZEN = "ANCHOR_FROZEN"
EXPIRED = "ANCHOR_EXPIRED"
NOT_FROZEN_OR_EXPIRED = "ANCHOR_NOT_RECOVERABLE"  # recovery of an active client
BAD_PARAMS = "ANCHOR_BAD_PARAMS"
PERMISSION = "ANCHOR_PERMISSION_DENIED"
BAD_ARGS = "ANCHOR_BAD_ARGS"
OUT_OF_GAS = "VM_OUT_OF_GAS"  # the chain's one out-of-gas code

# header and certificate
BAD_HEADER = "ANCHOR_BAD_HEADER"  # malformed or over the size cap
WRONG_CHAIN = "ANCHOR_WRONG_CHAIN"  # header or certificate of another chain
CERT_MISMATCH = "ANCHOR_CERT_MISMATCH"  # certificate for another height or block
STALE_HEIGHT = "ANCHOR_STALE_HEIGHT"  # not above the latest trusted height (pure client)
ALREADY_UPDATED = "ANCHOR_ALREADY_UPDATED"  # an older, consistent header: a no-op result
CONFLICTING_HEADER = "ANCHOR_CONFLICTING_HEADER"  # differs from what is anchored at/around it
BAD_LINK = "ANCHOR_BAD_LINK"  # adjacent header whose prev_hash is not the trusted header
NOT_ADJACENT = "ANCHOR_NOT_ADJACENT"  # skipping heights on a client that forbids it
TIME_NOT_MONOTONIC = "ANCHOR_TIME_NOT_MONOTONIC"
TIME_DRIFT = "ANCHOR_TIME_DRIFT"  # header time beyond host time + max clock drift
HEADER_TOO_OLD = "ANCHOR_HEADER_TOO_OLD"  # header time before host time - trusting period
VALSET_MISMATCH = "ANCHOR_VALSET_MISMATCH"  # header signed by a set the client does not trust
VALSET_REQUIRED = "ANCHOR_VALSET_REQUIRED"  # header announces a new set; none was supplied
VALSET_HASH = "ANCHOR_VALSET_HASH"  # supplied set does not hash to next_validators_hash
BAD_VALSET = "ANCHOR_BAD_VALSET"  # malformed set (empty, duplicate keys, bad key)
VALSET_TOO_LARGE = "ANCHOR_VALSET_TOO_LARGE"
BAD_CERT = "ANCHOR_BAD_CERT"  # malformed certificate (unsorted, index out of range)
DUPLICATE_SIGNER = "ANCHOR_DUPLICATE_SIGNER"  # one validator counted twice
NO_QUORUM = "ANCHOR_NO_QUORUM"  # fewer than 2f+1 distinct signers
BAD_SIGNATURE = "ANCHOR_BAD_SIGNATURE"  # a signature for another chain, domain or block

# misbehaviour
BAD_EVIDENCE = "ANCHOR_BAD_EVIDENCE"  # the two headers do not conflict

# proofs
NO_HEIGHT = "ANCHOR_NO_HEIGHT"  # no anchored header at that height (never, or pruned)
BAD_STATE_PROOF = "ANCHOR_BAD_STATE_PROOF"
BAD_ABSENCE_PROOF = "ANCHOR_BAD_ABSENCE_PROOF"
BAD_RECEIPT_PROOF = "ANCHOR_BAD_RECEIPT_PROOF"

# packets
BAD_PACKET = "ANCHOR_BAD_PACKET"
OUT_OF_ORDER = "ANCHOR_OUT_OF_ORDER"
ALREADY_RECEIVED = "ANCHOR_ALREADY_RECEIVED"  # a no-op result, never a failed receipt
ALREADY_SETTLED = "ANCHOR_ALREADY_SETTLED"  # ack/timeout of a settled packet: a no-op result
PACKET_UNKNOWN = "ANCHOR_PACKET_UNKNOWN"  # ack/timeout of a packet this chain never sent
NOT_TIMED_OUT = "ANCHOR_NOT_TIMED_OUT"
ACK_TOO_LARGE = "ANCHOR_ACK_TOO_LARGE"  # a delivery's return value over MAX_ACK_RESULT_BYTES
PACKET_TIMEOUT = "ANCHOR_PACKET_TIMEOUT"  # the acknowledgement of a packet that timed out


class AnchorError(Exception):
    """A refusal with a stable code; becomes a failed receipt (or a VM error) upstream."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def need(cond: bool, code: str, message: str) -> None:
    if not cond:
        raise AnchorError(code, message)
