"""Key, genesis and TLS material for a new chain.

Shared by `chainnode testnet init` (every node on one machine) and `chainnode network init`
(one package per host), so both make the same kind of chain: SM2 node keys that are genesis
validators (and members, so observers can authenticate), an admin account, optional member
accounts, and node TLS certificates from one fresh CA.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from chainnode.core.genesis import DEFAULT_PARAMS, Genesis, Member, Validator
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import save_private_key
from chainnode.crypto.sm2 import PrivateKey


@dataclass(frozen=True)
class ChainMaterial:
    """A new chain's genesis and the SM2 keys of its nodes (validators first, then observers)."""

    genesis: Genesis
    node_keys: tuple[PrivateKey, ...]


def make_chain(root: Path, validators: int, observers: int = 0, chain_id: str = "chainnode-local",
               params: dict | None = None, accounts: int = 0,
               timestamp_ms: int | None = None) -> ChainMaterial:
    """Generate the keys and write admin.key, accountN.key and genesis.json into `root`.

    Node i is named `node{i}`; node keys are returned, not written (their homes are the
    caller's business)."""
    unknown = sorted(set(params or {}) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown genesis params {unknown}")
    keys = tuple(PrivateKey.generate() for _ in range(validators + observers))
    admin = PrivateKey.generate()
    save_private_key(root / "admin.key", admin)
    members = [Member(address_of(admin.public_key), ("admin", "operator"), "admin")]
    for i in range(accounts):
        k = PrivateKey.generate()
        save_private_key(root / f"account{i}.key", k)
        members.append(Member(address_of(k.public_key), ("member",), f"account{i}"))
    for i, k in enumerate(keys):  # node keys are members: observers authenticate as members
        members.append(Member(address_of(k.public_key), ("member",), f"node{i}"))
    vals = tuple(Validator(f"node{i}", k.public_key.raw) for i, k in enumerate(keys[:validators]))
    genesis = Genesis(chain_id, timestamp_ms if timestamp_ms is not None
                      else int(time.time() * 1000), vals, tuple(members), dict(params or {}))
    genesis.save(root / "genesis.json")
    return ChainMaterial(genesis, keys)


def make_ca(root: Path) -> tuple[Path, Path]:
    """A fresh TLS CA in root/ca (ca.crt, ca.key): the chain's transport trust root."""
    from chainnode.net import tls

    return tls.create_ca(root / "ca")


def node_tls(ca_cert: Path, ca_key: Path, name: str, home: Path,
             hosts: tuple[str, ...] | None = None,
             ca_in_home: Path | None = None) -> tuple[str, str, str]:
    """Issue `name`'s certificate into its home; (tls_ca, tls_cert, tls_key) for node.json,
    relative to the home. `ca_in_home` is where the node will find the CA certificate if not
    at `ca_cert` (a package ships a copy of it)."""
    from chainnode.net import tls

    home.mkdir(parents=True, exist_ok=True)
    cert, key = tls.issue_cert(ca_cert, ca_key, name, home,
                               tls.DEFAULT_HOSTS if hosts is None else hosts)
    return (os.path.relpath(ca_in_home or ca_cert, home), os.path.relpath(cert, home),
            os.path.relpath(key, home))
