#!/usr/bin/env python3
"""Write the example genesis files in genesis/ (run from the repository root).

The keys are EXAMPLES: every private key is derived from a public seed string
(SM3("chainnode example key: " + name)), so anyone can sign as these validators and
members. They show the format and a sensible layout; a real network makes its own keys
(`chainnode keygen`) and puts their public keys and addresses in place of these.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from chainnode.core.genesis import Genesis, Member, Validator
from chainnode.crypto.address import address_of
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import PrivateKey

SEED_PREFIX = b"chainnode example key: "
TIMESTAMP_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MAIN_CHAIN_ID = "grid-main-example"
EDGE_CHAIN_ID = "district-0101-edge-example"


def example_key(name: str) -> PrivateKey:
    """A deterministic, publicly known key: for examples and tests only."""
    return PrivateKey.from_bytes(sm3(SEED_PREFIX + name.encode()))


def _addr(name: str) -> str:
    return address_of(example_key(name).public_key)


def main_chain() -> Genesis:
    """4 validators (f = 1) run by the grid company's data centres; the operator's admin
    account, an auditor, and the relayer that carries the district chains' packets."""
    validators = tuple(Validator(f"main-validator-{i}", example_key(f"main-validator-{i}")
                                 .public_key.raw) for i in range(4))
    members = (
        Member(_addr("grid-admin"), ("admin", "operator"), "grid-admin"),
        Member(_addr("grid-auditor"), ("auditor", "member"), "grid-auditor"),
        Member(_addr("district-relayer"), ("relayer", "member"), "district-relayer"),
        *(Member(address_of(example_key(v.name).public_key), ("member",), v.name)
          for v in validators),
    )
    governance = {"governors": [[_addr("grid-admin"), 2], [_addr("grid-auditor"), 1]],
                  "participation_threshold": 67, "win_threshold": 67,
                  "proposal_ttl_blocks": 10_000}
    params = {"view_timeout_ms": 3000, "max_view_timeout_ms": 60000,
              "block_interval_ms": 200, "max_block_txs": 2000}
    return Genesis(MAIN_CHAIN_ID, TIMESTAMP_MS, validators, members, params,
                   governance=governance)


def district_edge_chain() -> Genesis:
    """1 validator at a transformer district's edge site (trusted as one signer by the main
    chain); the site's operator, the relayer, and two meter-concentrator terminals."""
    validators = (Validator("edge-0101", example_key("edge-0101").public_key.raw),)
    members = (
        Member(_addr("edge-0101-operator"), ("admin", "operator"), "edge-0101-operator"),
        Member(_addr("district-relayer"), ("relayer", "member"), "district-relayer"),
        Member(_addr("edge-0101"), ("member",), "edge-0101"),
        *(Member(_addr(f"concentrator-0101-{i}"), ("terminal",), f"concentrator-0101-{i}")
          for i in (1, 2)),
    )
    params = {"view_timeout_ms": 2000, "block_interval_ms": 1000, "max_block_txs": 5000,
              "empty_blocks": False}
    return Genesis(EDGE_CHAIN_ID, TIMESTAMP_MS, validators, members, params)


EXAMPLES = {"main-4-validators.json": main_chain, "district-edge-1-validator.json":
            district_edge_chain}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="genesis", help="where to write the files")
    a = ap.parse_args()
    out = Path(a.dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, make in EXAMPLES.items():
        make().save(out / name)
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
