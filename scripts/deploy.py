#!/usr/bin/env python3
"""Deploy a directory of contracts described by a JSON manifest, in order, idempotently.

    python scripts/deploy.py --manifest contracts/manifest.json --url URL --key admin.key
                             [--upgrade] [--dry-run] [--genesis genesis.json] [--gas N]

The manifest is

    {"contracts": [{"name": "billing", "file": "billing.py", "args": {...}}, ...]}

with `file` relative to the manifest and `args` the constructor arguments (optional). For each
contract, in the manifest's order, the script reads its `sys.contracts` record and compares the
code hash (SM3 of the UTF-8 source) with the file's:

- not deployed                 -> deploy it with its constructor arguments
- deployed, same code hash     -> skip it ("unchanged")
- deployed, different code     -> upgrade it if --upgrade is given (storage is kept, the
                                  constructor does not run again), otherwise stop with an error

It prints one line per contract and stops at the first failure with a non-zero exit code and
the chain's error code (PERMISSION_DENIED, CONTRACT_REJECTED, ...). Exit codes: 0 success,
1 a deployment or the node failed, 2 the manifest or the command line is wrong.
With --genesis every record read is verified against a certified state root (SMT proof).
The key file may be encrypted: the passphrase is read from CHAINNODE_KEY_PASSPHRASE.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chainnode.client import Client, ProofError, RpcError  # noqa: E402
from chainnode.crypto.hashing import sm3  # noqa: E402

CONTRACTS = "sys.contracts"
EXIT_FAILED = 1
EXIT_USAGE = 2


class ManifestError(Exception):
    pass


class DeployFailed(Exception):
    pass


@dataclass(frozen=True)
class Entry:
    name: str
    path: Path
    source: str
    args: dict

    @property
    def code_hash(self) -> bytes:
        return sm3(self.source.encode("utf-8"))


def load_manifest(path: Path) -> list[Entry]:
    """Parse and check the whole manifest (and read every file) before anything is sent."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"manifest {path} does not exist") from None
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"manifest {path} is not valid JSON: {exc}") from None
    items = doc.get("contracts") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise ManifestError(f'manifest {path} must be {{"contracts": [{{"name", "file", '
                            f'"args"}}, ...]}} with at least one contract')
    out: list[Entry] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"manifest {path}, contracts[{i}]"
        if not isinstance(item, dict):
            raise ManifestError(f"{where}: must be an object with name and file")
        unknown = sorted(set(item) - {"name", "file", "args"})
        if unknown:
            raise ManifestError(f"{where}: unknown fields {unknown} (allowed: name, file, args)")
        name, file, args = item.get("name"), item.get("file"), item.get("args", {})
        if not isinstance(name, str) or not name or len(name) > 64 or name.startswith("sys."):
            raise ManifestError(f"{where}: name must be a string of 1 to 64 characters not "
                                f"starting with 'sys.'")
        if name in seen:
            raise ManifestError(f"{where}: contract {name!r} is listed twice")
        seen.add(name)
        if not isinstance(file, str) or not file:
            raise ManifestError(f"{where} ({name}): file must be a path relative to the manifest")
        if not isinstance(args, dict):
            raise ManifestError(f"{where} ({name}): args must be a JSON object")
        src_path = (path.parent / file).resolve()
        try:
            source = src_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ManifestError(f"{where} ({name}): file {src_path} does not exist") from None
        except UnicodeDecodeError:
            raise ManifestError(f"{where} ({name}): {src_path} is not UTF-8 text") from None
        except OSError as exc:
            raise ManifestError(f"{where} ({name}): cannot read {src_path}: "
                                f"{exc.strerror}") from None
        out.append(Entry(name, src_path, source, args))
    return out


def _record(client: Client, name: str, genesis) -> dict | None:
    if genesis is not None and client.height() == 0:
        # Nothing is certified before block 1, and a genesis deploys no contracts.
        return None
    st = client.state(CONTRACTS, name, genesis)
    return st.value if isinstance(st.value, dict) else None


def _receipt(res: dict, name: str, action: str) -> dict:
    rc = res["receipt"]
    if rc["status"] != "ok":
        raise DeployFailed(f"{name}: {action} FAILED at height {res['height']}: "
                           f"{rc['error_code']}: {rc['error_message']}")
    return rc


def deploy_one(client: Client, e: Entry, *, upgrade: bool, dry_run: bool, gas: int,
               genesis) -> str:
    """Bring one contract up to date; return the line to print."""
    rec = _record(client, e.name, genesis)
    want = e.code_hash.hex()
    if rec is None:
        if dry_run:
            return f"{e.name}: would deploy {e.path.name} (code {want[:16]})"
        res = client.deploy(e.name, e.source, e.args, gas_limit=gas)
        rc = _receipt(res, e.name, "deploy")
        return (f"{e.name}: deployed version {rc['value']['version']} (code {want[:16]}, "
                f"height {res['height']}, gas {rc['gas_used']})")
    have = bytes(rec["code_hash"]).hex()
    frozen = " [frozen]" if rec.get("frozen") else ""
    if have == want:
        return f"{e.name}: unchanged at version {rec['version']} (code {want[:16]}){frozen}"
    if not upgrade:
        raise DeployFailed(f"{e.name}: deployed code {have[:16]} (version {rec['version']}) "
                           f"differs from {e.path.name} ({want[:16]}); rerun with --upgrade "
                           f"to upgrade it")
    if dry_run:
        return f"{e.name}: would upgrade version {rec['version']} -> {rec['version'] + 1}"
    res = client.call(CONTRACTS, "upgrade", {"name": e.name, "source": e.source}, gas_limit=gas)
    rc = _receipt(res, e.name, "upgrade")
    note = " (constructor args not re-applied)" if e.args else ""
    return (f"{e.name}: upgraded version {rec['version']} -> {rc['value']['version']} "
            f"(code {want[:16]}, height {res['height']}){frozen}{note}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Deploy the contracts listed in a JSON manifest.")
    ap.add_argument("--manifest", required=True, help="JSON manifest of contracts")
    ap.add_argument("--url", default=os.environ.get("CHAINNODE_URL", "http://127.0.0.1:26601"),
                    help="RPC address of a node")
    ap.add_argument("--key", required=True, help="SM2 PEM key of an operator or admin")
    ap.add_argument("--upgrade", action="store_true",
                    help="upgrade deployed contracts whose code changed")
    ap.add_argument("--dry-run", action="store_true", help="show what would be done; send nothing")
    ap.add_argument("--genesis", help="genesis file: verify every record read with its proof")
    ap.add_argument("--gas", type=int, default=20_000_000, help="gas limit per transaction")
    a = ap.parse_args(argv)

    try:
        entries = load_manifest(Path(a.manifest))
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        from chainnode.crypto.keyfile import load_private_key

        pw = os.environ.get("CHAINNODE_KEY_PASSPHRASE")
        key = load_private_key(a.key, pw.encode() if pw else None)
        genesis = None
        if a.genesis:
            from chainnode.core.genesis import Genesis

            genesis = Genesis.load(a.genesis)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    client = Client(a.url, key)
    done = 0
    try:
        for e in entries:
            print(deploy_one(client, e, upgrade=a.upgrade, dry_run=a.dry_run, gas=a.gas,
                             genesis=genesis), flush=True)
            done += 1
    except DeployFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
    except RpcError as exc:
        hint = ("; it may still commit: rerun the script (it skips what is already deployed)"
                if exc.code == "TIMEOUT" else "")
        print(f"error: {entries[done].name}: node refused: {exc.code}: {exc.message}{hint}",
              file=sys.stderr)
    except ProofError as exc:
        print(f"error: {entries[done].name}: record failed verification: {exc}",
              file=sys.stderr)
    except urllib.error.URLError as exc:
        print(f"error: cannot reach the node at {a.url}: {exc.reason}", file=sys.stderr)
    except OSError as exc:
        print(f"error: talking to the node at {a.url}: {exc}", file=sys.stderr)
    if done == len(entries):
        return 0
    rest = ", ".join(e.name for e in entries[done + 1:])
    print(f"stopped: {done} of {len(entries)} contracts up to date"
          + (f"; not attempted: {rest}" if rest else ""), file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
