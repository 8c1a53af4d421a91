#!/usr/bin/env python3
"""Deploy the power-utility contracts (billing, reconciliation, district) on a running testnet.

    scripts/deploy_contracts.py --dir TESTNET_DIR [--url URL] [--key KEY] [--params FILE]
                                [--upgrade]

The sender is TESTNET_DIR/admin.key (admin + operator in the genesis) unless --key is given;
the node is the first one of TESTNET_DIR/testnet.json unless --url is given. Each contract is
compiled locally first (the same checker every node runs), so a rejected source fails before
anything is sent. Deploying is idempotent: a contract already on chain with the same code hash
(read from the chain's `sys.contracts` state) is left alone; one with a different code hash
is an error unless --upgrade is given (then it is upgraded in place: code replaced, storage
and constructor parameters kept).

Constructor parameters are the Zhejiang defaults of docs/contracts-power.md, written out
here so an operator sees what is deployed; `district` is given the billing contract's name (it
asks billing whether a meter is cut before counting it in an outage). --params FILE (JSON,
{"billing": {...}, "district": {...}}) overrides or adds parameters per contract.

Prints, per contract: name, version, code hash, gas used and the block. Exit status 0 on
success, 1 with a message on stderr on any failure.

Other scripts reuse it: `from deploy_contracts import deploy_all`.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chainnode.client import Client, RpcError  # noqa: E402
from chainnode.crypto.keyfile import load_private_key  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = REPO / "contracts"
ORDER = ("billing", "reconciliation", "district")  # district calls billing: billing first
DEPLOY_GAS = 20_000_000
HOUR_MS = 3_600_000

# Zhejiang residential tariff: 0.538 yuan/kWh flat, 0.568 peak, 0.288 valley (prices in
# 0.0001 yuan/kWh); annual tiers at 2,760 and 4,800 kWh (0.01 kWh); +0.05 / +0.30 yuan.
ZHEJIANG_TARIFF = {"flat": 5380, "bounds": [276_000, 480_000], "incs": [0, 500, 3000],
                   "tou": {"peak": 5680, "valley": 2880}}


def default_params(billing_name: str = "billing") -> dict[str, dict[str, Any]]:
    """Constructor arguments per contract (every one is also changeable with set_param)."""
    return {
        "billing": {
            "tariff": ZHEJIANG_TARIFF,
            "warn_threshold": 3000,          # fen: WARN at or below 30.00 yuan
            "restore_threshold": 0,          # fen: a cut customer above this is restored
            "warn_lead_hours": 24,           # a cut needs a warning at least this old
            "cut_start_min": 8 * 60,         # cut window 08:00-17:00 local, working days
            "cut_end_min": 17 * 60,
            "workdays": [0, 1, 2, 3, 4],
            "utc_offset_ms": 8 * HOUR_MS,    # China Standard Time
        },
        "reconciliation": {
            "window_days": 1,                # the bank may book on T or T+1
            "in_transit_statuses": ["PENDING"],
            "utc_offset_ms": 8 * HOUR_MS,
        },
        "district": {
            "billing_contract": billing_name,  # cut meters do not count as outages
            "loss_low_bp": -100,             # line loss bands: < -1 % negative, > 10 % high
            "loss_high_bp": 1000,
            "collection_min_bp": 9800,       # 98 % of meters must report
            "outage_share_bp": 8000,         # >= 80 % of meters down within 3 min
            "outage_window_ms": 180_000,
            "utc_offset_ms": 8 * HOUR_MS,
        },
    }


class DeployError(Exception):
    pass


@dataclass(frozen=True)
class Deployed:
    name: str
    action: str          # "deployed" | "unchanged" | "upgraded"
    version: int
    code_hash: str       # hex
    gas_used: int        # 0 when nothing was sent
    height: int | None   # block of the deploy/upgrade transaction

    def line(self) -> str:
        gas = f"gas {self.gas_used:>10,}" if self.action != "unchanged" else "gas          -"
        where = f"block {self.height}" if self.height is not None else "already on chain"
        return (f"{self.name:<15} v{self.version:<3} {self.action:<9} code {self.code_hash}  "
                f"{gas}  {where}")


def local_code_hash(name: str, source: str) -> str:
    """Compile with the node's checker; the code hash the chain will record (SM3 of source)."""
    from chainnode.vm import ContractRejected, compile_contract

    try:
        return compile_contract(name, source).code_hash.hex()
    except ContractRejected as exc:
        raise DeployError(f"{name}: the contract checker rejects the source: line {exc.line} "
                          f"col {exc.col} [{exc.rule}] {exc.message}") from exc


def on_chain(client: Client, name: str) -> dict | None:
    """The sys.contracts record of `name` (None if not deployed), via GET /state."""
    rec = client.state("sys.contracts", name).value
    return rec if isinstance(rec, dict) else None


def _hex(v: Any) -> str:
    return v.hex() if isinstance(v, bytes | bytearray) else str(v)


def _check_receipt(name: str, what: str, res: dict) -> dict:
    rc = res.get("receipt") or {}
    if rc.get("status") != "ok":
        raise DeployError(f"{name}: {what} failed in block {res.get('height')}: "
                          f"{rc.get('error_code')}: {rc.get('error_message')}")
    return rc


def deploy_one(client: Client, name: str, source: str, init_args: dict, *,
               upgrade: bool = False) -> Deployed:
    want = local_code_hash(name, source)
    rec = on_chain(client, name)
    if rec is not None:
        have = _hex(rec.get("code_hash"))
        if have == want:
            return Deployed(name, "unchanged", rec["version"], have, 0, None)
        if not upgrade:
            raise DeployError(
                f"{name}: already deployed (version {rec['version']}, code {have}) with "
                f"different code than {name}.py ({want}); pass --upgrade to upgrade it")
        res = client.call("sys.contracts", "upgrade", {"name": name, "source": source},
                          gas_limit=DEPLOY_GAS)
        rc = _check_receipt(name, "upgrade", res)
        val = rc.get("value") or {}
        return Deployed(name, "upgraded", val.get("version", rec["version"] + 1),
                        val.get("code_hash", want), rc["gas_used"], res.get("height"))
    res = client.deploy(name, source, init_args, gas_limit=DEPLOY_GAS)
    rc = res.get("receipt") or {}
    if rc.get("status") != "ok" and rc.get("error_code") == "CONTRACT_EXISTS":
        # someone deployed it between our read and our transaction: judge what is there now
        return deploy_one(client, name, source, init_args, upgrade=upgrade)
    rc = _check_receipt(name, "deploy", res)
    val = rc.get("value") or {}
    got = val.get("code_hash", want)
    if got != want:
        raise DeployError(f"{name}: the chain recorded code hash {got}, expected {want}")
    return Deployed(name, "deployed", val.get("version", 1), got, rc["gas_used"],
                    res.get("height"))


def deploy_all(client: Client, contracts_dir: Path = CONTRACTS_DIR,
               params: dict[str, dict] | None = None, *, upgrade: bool = False,
               out: Callable[[str], None] | None = print) -> list[Deployed]:
    """Deploy (or confirm) billing, reconciliation and district; return what happened."""
    merged = default_params()
    for name, extra in (params or {}).items():
        if name not in merged:
            raise DeployError(f"--params: unknown contract {name!r} (one of {', '.join(ORDER)})")
        if not isinstance(extra, dict):
            raise DeployError(f"--params: parameters of {name} must be a JSON object")
        merged[name] = {**merged[name], **extra}
    done = []
    for name in ORDER:
        path = Path(contracts_dir) / f"{name}.py"
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DeployError(f"{name}: cannot read {path}: {exc}") from exc
        d = deploy_one(client, name, source, merged[name], upgrade=upgrade)
        done.append(d)
        if out is not None:
            out(d.line())
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="testnet directory (testnet.json, admin.key)")
    ap.add_argument("--url", help="node RPC URL (default: the testnet's first node)")
    ap.add_argument("--key", help="sender key file (default: DIR/admin.key)")
    ap.add_argument("--contracts", default=str(CONTRACTS_DIR), help="contracts directory")
    ap.add_argument("--params", help="JSON file of constructor parameters per contract")
    ap.add_argument("--upgrade", action="store_true",
                    help="upgrade contracts deployed with different code instead of failing")
    a = ap.parse_args(argv)
    root = Path(a.dir)
    try:
        url = a.url
        if url is None:
            try:
                url = json.loads((root / "testnet.json").read_text())["nodes"][0]["rpc"]
            except (OSError, ValueError, KeyError, IndexError) as exc:
                raise DeployError(f"{root} has no readable testnet.json ({exc}); "
                                  "give --url") from exc
        key_path = Path(a.key) if a.key else root / "admin.key"
        try:
            key = load_private_key(key_path)
        except (OSError, ValueError) as exc:
            raise DeployError(f"cannot load the sender key {key_path}: {exc}") from exc
        params = None
        if a.params:
            try:
                params = json.loads(Path(a.params).read_text())
            except (OSError, ValueError) as exc:
                raise DeployError(f"--params {a.params}: {exc}") from exc
            if not isinstance(params, dict):
                raise DeployError("--params must hold a JSON object")
        client = Client(url, key)
        print(f"deploying to {url} as {key_path.name}")
        deploy_all(client, Path(a.contracts), params, upgrade=a.upgrade)
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except RpcError as exc:
        print(f"error: the node refused: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"error: cannot reach the node at {url}: {exc.reason}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
