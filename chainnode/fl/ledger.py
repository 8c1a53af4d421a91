"""The chain side of a federated task: accounts, the fl_receipts contract, commitments, receipts.

Every site is its own member account with its own SM2 key: its commitment is a transaction it
signs itself, so the contract (which reads ctx.caller) records who committed what. The admin
key registers the site accounts (sys.members) and deploys the contract when it is missing;
the aggregator account sends the receipts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainnode.client import Client
from chainnode.core.tx import build_tx
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import load_private_key, save_private_key
from chainnode.crypto.sm2 import PrivateKey

CONTRACT = "fl_receipts"
DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "contracts" / "fl_receipts.py"
DEPLOY_GAS = 20_000_000


class LedgerError(Exception):
    """A transaction the run needed was refused (code and message of its receipt)."""


def ok_receipt(res: dict, what: str) -> dict:
    if "error" in res:
        raise LedgerError(f"{what}: not admitted: {res['error']['code']}: "
                          f"{res['error']['message']}")
    rc = res.get("receipt") or {}
    if rc.get("status") != "ok":
        raise LedgerError(f"{what}: {rc.get('error_code') or res.get('status')}: "
                          f"{rc.get('error_message', '')}")
    return rc


def addr(key: PrivateKey) -> str:
    return address_of(key.public_key)


@dataclass(frozen=True)
class Sent:
    """A committed transaction: its receipt and block."""
    receipt: dict
    height: int


class Ledger:
    def __init__(self, url: str, admin: PrivateKey, *, contract: str = CONTRACT,
                 chain_id: str | None = None) -> None:
        self.admin = Client(url, admin, chain_id=chain_id)
        self.url = url
        self.contract = contract
        self.sent = 0          # transactions sent (the demo counts what lands in blocks)

    @property
    def chain_id(self) -> str:
        return self.admin.chain_id

    # -- setup
    def is_member(self, address: str) -> bool:
        rec = self.admin.state("sys.members", address).value
        return isinstance(rec, dict) and bool(rec.get("active"))

    def site_keys(self, keys_dir: Path, n: int, prefix: str = "site") -> list[PrivateKey]:
        """Load or create `prefix{i}.key` for i < n and register those not yet members."""
        keys_dir.mkdir(parents=True, exist_ok=True)
        keys = []
        for i in range(n):
            path = keys_dir / f"{prefix}{i}.key"
            if not path.exists():
                save_private_key(path, PrivateKey.generate())
            keys.append(load_private_key(path))
        todo = [(i, k) for i, k in enumerate(keys) if not self.is_member(addr(k))]
        if todo:
            h = self.admin.height()
            txs = [build_tx(self.admin.key, self.chain_id, "system", "sys.members", "register",
                            {"address": addr(k), "roles": ["member"], "name": f"{prefix}{i}"},
                            expires_at=h + 500, gas_limit=1_000_000) for i, k in todo]
            self.sent += len(txs)
            for (i, _), res in zip(todo, self.admin.submit_many(txs), strict=True):
                ok_receipt(res, f"registering {prefix}{i}")
        return keys

    def deployed(self) -> bool:
        return isinstance(self.admin.state("sys.contracts", self.contract).value, dict)

    def ensure_contract(self, source: Path = DEFAULT_SOURCE) -> Sent | None:
        """Deploy the contract from `source` if the chain does not have it (admin = us)."""
        if self.deployed():
            return None
        res = self.admin.deploy(self.contract, source.read_text(encoding="utf-8"), {},
                                gas_limit=DEPLOY_GAS)
        self.sent += 1
        return Sent(ok_receipt(res, f"deploying {self.contract}"), res["height"])

    # -- writes
    def call(self, key: PrivateKey | None, method: str, args: dict, what: str) -> Sent:
        c = self.admin if key is None else Client(self.url, key, chain_id=self.chain_id)
        res = c.call(self.contract, method, args)
        self.sent += 1
        return Sent(ok_receipt(res, what), res["height"])

    def commit_all(self, task: str, round_no: int,
                   items: list[tuple[PrivateKey, str, int]]) -> list[dict]:
        """Every site's commitment, each signed by that site, in one batch; raw results in
        order (a refused one has an error or a failed receipt, the caller decides)."""
        h = self.admin.height()
        txs = [build_tx(k, self.chain_id, "call", self.contract, "commit_update",
                        {"task": task, "round_no": round_no, "update_hash": uh,
                         "samples": n}, expires_at=h + 500, gas_limit=1_000_000)
               for k, uh, n in items]
        self.sent += len(txs)
        return self.admin.submit_many(txs)

    # -- reads
    def q(self, method: str, **args: Any) -> Any:
        return self.admin.query(self.contract, method, args)

    def task(self, task: str) -> dict | None:
        return self.q("get_task", task=task)

    def rounds(self, task: str, count: int) -> list[dict | None]:
        return [self.q("get_round", task=task, round_no=r) for r in range(1, count + 1)]
