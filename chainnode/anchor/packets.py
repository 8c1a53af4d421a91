"""Packets between chains: wire form, commitments, the state keys `sys.anchor` keeps, and the
sequencing decisions (sans-IO).

Lifecycle (IBC's ordered channel, simplified: one channel per pair of chains):
1. Source: a contract calls `send_packet(...)`; `sys.anchor` stores the packet's commitment
   under ["commit", dst_chain, seq] and the packet itself under ["packet", dst_chain, seq].
2. Destination: `sys.anchor.recv(packet, proof, height)` checks the commitment's SMT proof
   against the source's anchored state root, takes packets strictly in sequence order, calls
   the named method (or, past the timeout height, does not), and stores the acknowledgement
   under ["ack", src_chain, seq] (bound to the commitment). A packet already received is a
   no-op with result ALREADY_RECEIVED, so racing relayers cause no failed receipts.
3. Source: `acknowledge(packet, ack, proof, height)` proves the ack, or `timeout(packet,
   proof, height)` proves at a destination height >= the timeout that no ack exists; either
   calls the sending contract back exactly once. An acknowledged packet's commitment is
   deleted; a timed-out one's stays (marked settled) because the destination must still be
   handed the packet, with a proof, to move its ordered channel past it (it then records a
   timeout acknowledgement and delivers nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chainnode import codec
from chainnode.anchor.errors import (
    ALREADY_RECEIVED,
    BAD_PACKET,
    OUT_OF_ORDER,
    AnchorError,
    need,
)
from chainnode.core.tx import CHAIN_ID_RE
from chainnode.crypto.hashing import sm3

MAX_PAYLOAD_BYTES = 16 * 1024
# the acknowledgement travels back in a transaction and is stored on both chains: the
# delivered method's return value is bounded like a payload (else an error ack is stored)
MAX_ACK_RESULT_BYTES = MAX_PAYLOAD_BYTES
METHOD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
CONTRACT_RE = re.compile(r"[a-z][a-z0-9_.]{0,63}")

DELIVER, TIMED_OUT = "deliver", "timeout"


@dataclass(frozen=True)
class Packet:
    src_chain: str
    src_contract: str
    dst_chain: str
    dst_contract: str
    method: str
    payload: Any
    sequence: int
    timeout_height: int  # destination height from which it can no longer be delivered; 0: none

    def to_wire(self) -> list:
        return [self.src_chain, self.src_contract, self.dst_chain, self.dst_contract,
                self.method, self.payload, self.sequence, self.timeout_height]

    @classmethod
    def from_wire(cls, w: Any) -> Packet:
        need(isinstance(w, list) and len(w) == 8, BAD_PACKET, "packet must be an 8-element list")
        p = cls(*w)
        p.validate()
        return p

    def validate(self) -> None:
        for chain in (self.src_chain, self.dst_chain):
            need(isinstance(chain, str) and CHAIN_ID_RE.fullmatch(chain) is not None,
                 BAD_PACKET, "packet chain ids must be chain ids")
        for c in (self.src_contract, self.dst_contract):
            need(isinstance(c, str) and CONTRACT_RE.fullmatch(c) is not None, BAD_PACKET,
                 "packet contracts must be contract names")
        need(isinstance(self.method, str) and METHOD_RE.fullmatch(self.method) is not None,
             BAD_PACKET, "packet method must be a method name")
        need(type(self.sequence) is int and 1 <= self.sequence < 2**63, BAD_PACKET,
             "packet sequence must be a positive int")
        need(type(self.timeout_height) is int and 0 <= self.timeout_height < 2**63, BAD_PACKET,
             "packet timeout_height must be a non-negative int")
        need(self.src_chain != self.dst_chain, BAD_PACKET, "a packet goes to another chain")
        try:
            size = len(codec.encode(self.payload))
        except codec.CodecError as exc:
            raise AnchorError(BAD_PACKET, f"payload is not encodable: {exc}") from None
        need(size <= MAX_PAYLOAD_BYTES, BAD_PACKET,
             f"payload larger than {MAX_PAYLOAD_BYTES} bytes")

    def commitment(self) -> bytes:
        return sm3(codec.encode(["packet", *self.to_wire()]))

    def to_json(self) -> dict:
        return {"src_chain": self.src_chain, "src_contract": self.src_contract,
                "dst_chain": self.dst_chain, "dst_contract": self.dst_contract,
                "method": self.method, "sequence": self.sequence,
                "timeout_height": self.timeout_height}


# -- state keys of sys.anchor (the same on every chain, so proofs name them) --------------------


def send_next_key(dst_chain: str) -> list:
    return ["send_next", dst_chain]


def commit_key(dst_chain: str, seq: int) -> list:
    return ["commit", dst_chain, seq]


def packet_key(dst_chain: str, seq: int) -> list:
    return ["packet", dst_chain, seq]


def settled_key(dst_chain: str, seq: int) -> list:
    """Set when a timeout was proven: the commitment stays (the destination can still prove
    the packet to move its ordered channel past it) but no second callback can happen."""
    return ["settled", dst_chain, seq]


def recv_next_key(src_chain: str) -> list:
    return ["recv_next", src_chain]


def ack_key(src_chain: str, seq: int) -> list:
    return ["ack", src_chain, seq]


def ack_record(packet: Packet, ack: dict) -> dict:
    """What the destination stores (and the source proves): the ack bound to the packet."""
    return {"commitment": packet.commitment(), "ack": ack}


# -- decisions -----------------------------------------------------------------------------------


def recv_decision(packet: Packet, own_chain: str, next_seq: int, host_height: int) -> str:
    """DELIVER or TIMED_OUT for the packet the destination expects next; raise otherwise."""
    need(packet.dst_chain == own_chain, BAD_PACKET,
         f"packet is for chain {packet.dst_chain!r}, this is {own_chain!r}")
    need(packet.sequence >= next_seq, ALREADY_RECEIVED,
         f"packet {packet.sequence} from {packet.src_chain} was already received")
    need(packet.sequence == next_seq, OUT_OF_ORDER,
         f"packet {packet.sequence} from {packet.src_chain} arrived before {next_seq}")
    if packet.timeout_height and host_height >= packet.timeout_height:
        return TIMED_OUT
    return DELIVER
