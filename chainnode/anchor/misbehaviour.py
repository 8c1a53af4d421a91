"""Misbehaviour evidence: proof that the validators a client trusts signed two histories.

Evidence is one or two certified headers, each `[header, certificate, validator set]`:
- two headers of one height with different hashes (a fork), or
- two headers whose times go backwards as heights go up (a time violation), or
- one header that conflicts with the header the client anchored at that height.
Each certificate must carry 2f+1 valid commit votes of the validator set the client knows
signs THAT height (`signing_set(height)`: the set of the anchored header there, or the next set
named by the closest anchored header below it), so nobody can freeze a client with keys the
other chain never trusted, with keys of a set that has since left (they no longer sign the
heights they would fork), or by replaying, after a recovery, evidence about heights the client
no longer keeps. Sans-IO: the caller supplies what the client knows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chainnode import codec
from chainnode.anchor.errors import BAD_EVIDENCE, VALSET_MISMATCH, need
from chainnode.anchor.lightclient import (
    Charge,
    ClientState,
    ConsensusState,
    parse_certificate,
    parse_header,
    parse_validators,
    valset_hash,
    verify_certified,
)
from chainnode.core.block import BlockHeader
from chainnode.crypto.hashing import sm3


@dataclass(frozen=True)
class Verdict:
    frozen_height: int
    evidence_hash: bytes  # independent of the order the headers were submitted in
    kind: str  # "fork" | "time" | "conflicts-anchored"
    headers: tuple[dict, ...]  # JSON of the headers, kept as evidence


SigningSet = Callable[[int], "bytes | None"]


def _certified(client: ClientState, signing_set: SigningSet, item: Any,
               charge: Charge) -> BlockHeader:
    need(isinstance(item, list) and len(item) == 3, BAD_EVIDENCE,
         "each evidence item must be [header, certificate, validator set]")
    header = parse_header(item[0])
    vs = parse_validators(item[2], client.params.max_validators)
    expected = signing_set(header.height)
    need(expected is not None and valset_hash(vs) == expected, VALSET_MISMATCH,
         f"evidence for height {header.height} is not signed by the validator set this "
         "client trusts at that height")
    cert = parse_certificate(item[1], len(vs))
    verify_certified(client.chain_id, header, cert, vs, charge)
    return header


def check(client: ClientState, signing_set: SigningSet,
          anchored: Callable[[int], ConsensusState | None], evidence: Any,
          charge: Charge) -> Verdict:
    """Raise AnchorError unless `evidence` proves misbehaviour; cheap shape checks first."""
    need(isinstance(evidence, list) and len(evidence) in (1, 2), BAD_EVIDENCE,
         "evidence must be a list of one or two certified headers")
    for item in evidence:  # parse everything before the first signature is checked
        need(isinstance(item, list) and len(item) == 3, BAD_EVIDENCE,
             "each evidence item must be [header, certificate, validator set]")
        parse_header(item[0])
    headers = [_certified(client, signing_set, item, charge) for item in evidence]
    if len(headers) == 1:
        h = headers[0]
        known = anchored(h.height)
        need(known is not None and known.header_hash != h.hash(), BAD_EVIDENCE,
             f"header {h.height} does not conflict with an anchored header")
        assert known is not None
        return Verdict(h.height, sm3(codec.encode(sorted([h.hash(), known.header_hash]))),
                       "conflicts-anchored", (h.to_json(), known.to_json()))
    a, b = sorted(headers, key=lambda x: (x.height, x.hash()))
    digest = sm3(codec.encode([a.hash(), b.hash()]))
    if a.height == b.height:
        need(a.hash() != b.hash(), BAD_EVIDENCE, "the two headers are the same header")
        return Verdict(a.height, digest, "fork", (a.to_json(), b.to_json()))
    need(b.timestamp_ms <= a.timestamp_ms, BAD_EVIDENCE,
         "headers of different heights whose times increase are not misbehaviour")
    return Verdict(a.height, digest, "time", (a.to_json(), b.to_json()))
