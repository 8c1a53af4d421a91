"""State and receipt proofs against an anchored header of another chain.

- State: the other chain's SMT proof for (contract, key) against the anchored state_root.
  Membership needs the exact value; absence needs a proof that ends in an empty subtree or in
  the leaf of a DIFFERENT key that shares the queried key's path (chainnode.store.smt checks
  both, so a membership proof cannot pass as an absence proof).
- Receipts: the Merkle path of the encoded receipt against the anchored receipt_root; the
  receipt's events are then read from the proven bytes, never from what the caller claims.

Gas (`proof_gas`) is charged by the caller before verifying: a fixed part plus one SM3 per
sibling and per 64 bytes hashed, in the VM's units (docs/sidechains.md).
"""

from __future__ import annotations

from typing import Any

from chainnode import codec
from chainnode.anchor.errors import (
    BAD_ABSENCE_PROOF,
    BAD_RECEIPT_PROOF,
    BAD_STATE_PROOF,
    AnchorError,
    need,
)
from chainnode.anchor.lightclient import ConsensusState
from chainnode.core.block import Receipt
from chainnode.crypto.hashing import sm3
from chainnode.crypto.merkle import verify_merkle_proof
from chainnode.store.db import state_key_hash
from chainnode.store.smt import KEY_BITS, SmtProof, verify_proof

MAX_RECEIPT_PATH = 64  # a receipt root over 2**64 receipts is not a thing
MAX_RECEIPT_BYTES = 1 << 20
MAX_PROOF_BYTES = 16 * 1024  # 256 siblings of 32 bytes + framing is ~8.5 KB
PROOF_BASE_GAS = 300
PROOF_NODE_GAS = 64  # one SM3 of 65 bytes plus the loop (~3.5 us worst, with 255 empty siblings)
PROOF_CHUNK_GAS = 8  # per 64 bytes hashed (as the VM's sm3_chunk)


def proof_gas(nodes: int, nbytes: int) -> int:
    return PROOF_BASE_GAS + nodes * PROOF_NODE_GAS + ((nbytes + 63) >> 6) * PROOF_CHUNK_GAS


def parse_smt_proof(w: Any, code: str) -> SmtProof:
    """An SMT proof as bytes (its codec encoding, what GET /anchor/proof/state returns) or as
    the decoded wire list."""
    try:
        if isinstance(w, bytes):
            need(len(w) <= MAX_PROOF_BYTES, code, "proof larger than its cap")
            w = codec.decode(w)
        return SmtProof.from_wire(w)
    except (ValueError, codec.CodecError) as exc:
        raise AnchorError(code, f"malformed SMT proof: {exc}") from None


def smt_proof_size(w: Any) -> int:
    """Siblings a proof makes the verifier hash (for pricing before verifying). Counted, not
    estimated from the byte length: an empty sibling travels as b"" (2 bytes) but costs an
    SM3 like any other. Bytes are decoded for it (their size is capped and paid per 64
    bytes); anything that is not a proof is priced at the cap and refused when parsed."""
    if isinstance(w, bytes):
        if len(w) > MAX_PROOF_BYTES:
            return KEY_BITS
        try:
            w = codec.decode(w)
        except (ValueError, codec.CodecError):
            return KEY_BITS
    if isinstance(w, list) and len(w) == 3 and isinstance(w[2], list):
        return min(len(w[2]), KEY_BITS)
    return KEY_BITS


def verify_state(cons: ConsensusState, contract: str, key: bytes, value: bytes,
                 proof_w: Any) -> None:
    """`contract`'s raw key `key` held exactly `value` (encoded) at the anchored height."""
    proof = parse_smt_proof(proof_w, BAD_STATE_PROOF)
    ok = verify_proof(cons.state_root, state_key_hash(contract, key), sm3(value), proof)
    need(ok, BAD_STATE_PROOF, f"state proof of {contract} does not verify against the state "
         f"root anchored at height {cons.height}")


def verify_absent(cons: ConsensusState, contract: str, key: bytes, proof_w: Any) -> None:
    """`contract`'s raw key `key` was absent at the anchored height."""
    proof = parse_smt_proof(proof_w, BAD_ABSENCE_PROOF)
    ok = verify_proof(cons.state_root, state_key_hash(contract, key), None, proof)
    need(ok, BAD_ABSENCE_PROOF, f"absence proof of {contract} does not verify against the "
         f"state root anchored at height {cons.height} (is the key present?)")


def verify_receipt(cons: ConsensusState, receipt: Any, path: Any) -> Receipt:
    """The encoded receipt is in the anchored block's receipt list; returns it decoded."""
    need(type(receipt) is bytes and len(receipt) <= MAX_RECEIPT_BYTES, BAD_RECEIPT_PROOF,
         "receipt must be its encoded bytes")
    need(isinstance(path, list) and len(path) <= MAX_RECEIPT_PATH
         and all(isinstance(p, list) and len(p) == 2 for p in path), BAD_RECEIPT_PROOF,
         f"receipt path must be at most {MAX_RECEIPT_PATH} [side, hash] pairs")
    need(verify_merkle_proof(cons.receipt_root, receipt, path), BAD_RECEIPT_PROOF,
         f"receipt proof does not verify against the receipt root anchored at height "
         f"{cons.height}")
    try:
        rc = Receipt.decode(receipt)
    except (ValueError, codec.CodecError) as exc:  # pragma: no cover - a committed receipt
        raise AnchorError(BAD_RECEIPT_PROOF, f"proven bytes are not a receipt: {exc}") from None
    return rc
