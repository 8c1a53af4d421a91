"""Genesis: the chain's founding document (JSON), identical on every node.

It fixes the chain id, the crypto suite, the first validator set (SM2 public keys), the first
members and their roles, and the chain parameters. Its SM3 hash over the canonical encoding is
block 1's prev_hash, so two nodes with different genesis files can never agree on a block.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainnode import codec
from chainnode.core import govconfig
from chainnode.core.tx import CHAIN_ID_RE
from chainnode.crypto.address import address_of, is_address
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import PublicKey, SignatureError

ROLES = ("admin", "operator", "member", "auditor", "relayer", "terminal")
CRYPTO_SUITE = "sm2-sm3"

DEFAULT_PARAMS: dict[str, int | bool] = {
    "max_block_txs": 2000,
    "max_block_bytes": 8 * 1024 * 1024,
    "max_tx_bytes": 256 * 1024,
    "tx_gas_limit": 50_000_000,
    "block_gas_limit": 2_000_000_000,
    "max_expiry_window": 1000,  # a tx may expire at most this many blocks ahead
    "empty_blocks": False,
    "block_interval_ms": 0,  # minimum time between proposals (0: as soon as txs arrive)
    "view_timeout_ms": 3000,
    "max_view_timeout_ms": 60000,
    # gas budget of one cross-chain packet delivery or callback (sys.anchor)
    "delivery_gas": 5_000_000,
}


class GenesisError(ValueError):
    pass


@dataclass(frozen=True)
class Validator:
    name: str
    public_key: bytes

    @property
    def address(self) -> str:
        return address_of(self.public_key)

    def to_json(self) -> dict:
        return {"name": self.name, "public_key": self.public_key.hex(), "address": self.address}


def validators_hash(validators: tuple[Validator, ...] | list[Validator]) -> bytes:
    return sm3(codec.encode([[v.name, v.public_key] for v in validators]))


@dataclass(frozen=True)
class Member:
    address: str
    roles: tuple[str, ...]
    name: str = ""

    def to_json(self) -> dict:
        return {"address": self.address, "roles": list(self.roles), "name": self.name}


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    timestamp_ms: int
    validators: tuple[Validator, ...]
    members: tuple[Member, ...]
    params: dict[str, Any] = field(default_factory=dict)
    crypto: str = CRYPTO_SUITE
    # optional committee (chainnode.core.govconfig); empty: the admins, weight 1, defaults
    governance: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Any:
        return self.params.get(name, DEFAULT_PARAMS[name])

    def to_json(self) -> dict:
        doc = {
            "chain_id": self.chain_id, "crypto": self.crypto, "timestamp_ms": self.timestamp_ms,
            "validators": [v.to_json() for v in self.validators],
            "members": [m.to_json() for m in self.members],
            "params": dict(sorted(self.params.items())),
        }
        if self.governance:  # only when named, so older genesis files keep their hash
            doc["governance"] = self.governance
        return doc

    def hash(self) -> bytes:
        return sm3(codec.encode(self.to_json()))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Genesis:
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise GenesisError(f"cannot read genesis {path}: {exc}") from exc
        return cls.from_json(doc)

    @classmethod
    def from_json(cls, doc: dict) -> Genesis:
        try:
            chain_id = doc["chain_id"]
            if not isinstance(chain_id, str) or CHAIN_ID_RE.fullmatch(chain_id) is None:
                raise GenesisError("chain_id must be 1-64 characters of A-Z a-z 0-9 . _ - "
                                   "starting with a letter or digit")
            if doc.get("crypto", CRYPTO_SUITE) != CRYPTO_SUITE:
                raise GenesisError(f"unsupported crypto suite {doc.get('crypto')!r}")
            vals = []
            for v in doc["validators"]:
                pub = PublicKey.from_hex(v["public_key"])
                if "address" in v and v["address"] != address_of(pub):
                    raise GenesisError(f"validator {v.get('name')}: address does not match key")
                vals.append(Validator(str(v["name"]), pub.raw))
            if not vals:
                raise GenesisError("genesis needs at least one validator")
            if len({v.public_key for v in vals}) != len(vals):
                raise GenesisError("duplicate validator key")
            if len({v.name for v in vals}) != len(vals):  # governance addresses them by name
                raise GenesisError("duplicate validator name")
            members = []
            for m in doc.get("members", []):
                if not is_address(m["address"]):
                    raise GenesisError(f"member address {m['address']!r} is not a 40-hex address")
                roles = tuple(m["roles"])
                bad = [r for r in roles if r not in ROLES]
                if bad:
                    raise GenesisError(f"unknown roles {bad} (known: {', '.join(ROLES)})")
                members.append(Member(m["address"], roles, str(m.get("name", ""))))
            params = dict(doc.get("params", {}))
            unknown = sorted(set(params) - set(DEFAULT_PARAMS))
            if unknown:
                raise GenesisError(f"unknown params {unknown}")
            for k, val in params.items():
                if type(val) is not type(DEFAULT_PARAMS[k]):
                    raise GenesisError(f"param {k} must be {type(DEFAULT_PARAMS[k]).__name__}")
            blk, txb = ({**DEFAULT_PARAMS, **params}[k] for k in ("max_block_bytes", "max_tx_bytes"))
            if blk < txb:  # an admissible tx that fits no block would halt the chain
                raise GenesisError(f"max_block_bytes {blk} is below max_tx_bytes {txb}")
            ts = doc.get("timestamp_ms", 0)
            if type(ts) is not int:
                raise GenesisError("timestamp_ms must be an integer")
            governance: dict[str, Any] = {}
            if doc.get("governance") is not None:
                try:
                    governance = govconfig.normalize(doc["governance"])
                except govconfig.CommitteeError as exc:
                    raise GenesisError(f"governance: {exc}") from exc
                known = {m.address for m in members}
                strangers = [a for a, _ in governance["governors"] if a not in known]
                if strangers:
                    raise GenesisError(f"governance: governors {strangers} are not members")
            return cls(chain_id, ts, tuple(vals), tuple(members), params,
                       governance=governance)
        except (KeyError, TypeError) as exc:
            raise GenesisError(f"malformed genesis: missing or bad field {exc}") from exc
        except SignatureError as exc:
            raise GenesisError(f"bad validator public key: {exc}") from exc
