"""`chainnode testnet add-node|remove-node`: grow and shrink a running local testnet.

add-node does what docs/operations.md's runbook does by hand, with the same commands' code:
node init (chainnode.joining), register the node key as a member with the testnet's admin key,
start it as an observer, wait until it is caught up, send its readiness attestation
(sys.validators.ready), and with --validator propose add-validator and vote it through with the
testnet's governor keys, then wait until the node's signature is in a commit certificate.
remove-node proposes and votes remove-validator and waits until every running node shows the
smaller set. Every wait has a deadline and prints progress.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chainnode import joining, testnet
from chainnode.client import Client, RpcError
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import load_private_key
from chainnode.crypto.sm2 import PrivateKey

GOVERNANCE = "sys.governance"
PROGRESS_EVERY_S = 2.0


class JoinTimeout(TimeoutError):
    pass


def _wait(cond: Callable[[], Any], timeout: float, what: str,
          progress: Callable[[], str] | None = None, out=sys.stdout) -> Any:
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + PROGRESS_EVERY_S
    while True:
        v = cond()
        if v:
            return v
        now = time.monotonic()
        if now > deadline:
            raise JoinTimeout(f"timed out after {timeout:.0f}s waiting for {what}"
                              + (f" ({progress()})" if progress else ""))
        if progress and now >= next_note:
            print(f"  waiting for {what}: {progress()}", file=out, flush=True)
            next_note = now + PROGRESS_EVERY_S
        time.sleep(0.2)


def _status(url: str) -> dict | None:
    return testnet._rpc_ok(url)


def _save_manifest(root: Path, m: dict) -> None:
    tmp = root / "testnet.json.tmp"
    tmp.write_text(json.dumps(m, indent=2) + "\n")
    tmp.replace(root / "testnet.json")


def _live_url(m: dict, skip: str = "") -> str:
    for n in m["nodes"]:
        if n["name"] != skip and _status(n["rpc"]) is not None:
            return n["rpc"]
    raise RuntimeError("no node of the testnet answers; run `chainnode testnet up` first")


def governor_keys(root: Path, url: str) -> list[PrivateKey]:
    """The testnet's key files (admin.key, accountN.key, …) that belong to current governors,
    heaviest first."""
    committee = Client(url).get("/governance")["committee"]
    weight = {a: w for a, w in committee["governors"]}
    keys: dict[str, PrivateKey] = {}
    for f in sorted(root.glob("*.key")):
        try:
            k = load_private_key(f)
        except (OSError, ValueError):
            continue
        a = address_of(k.public_key)
        if a in weight:
            keys.setdefault(a, k)
    if not keys:
        raise RuntimeError(f"none of the key files in {root} is a governor's")
    return sorted(keys.values(), key=lambda k: -weight[address_of(k.public_key)])


def decide(root: Path, url: str, kind: str, payload: dict, out=sys.stdout) -> dict:
    """Propose with the first governor key and vote yes with the others until decided."""
    keys = governor_keys(root, url)
    res = Client(url, keys[0]).call(GOVERNANCE, "propose", {"kind": kind, "payload": payload})
    rc = res["receipt"]
    if rc["status"] != "ok":
        raise RuntimeError(f"propose {kind} refused: {rc['error_code']}: {rc['error_message']}")
    pid = rc["value"]["id"]
    status, height = rc["value"]["status"], res["height"]
    print(f"proposal {pid} ({kind}) at height {height}: {status}", file=out, flush=True)
    for k in keys[1:]:
        if status != "open":
            break
        res = Client(url, k).call(GOVERNANCE, "vote", {"id": pid, "choice": "yes"})
        rc = res["receipt"]
        if rc["status"] != "ok":
            raise RuntimeError(f"vote on {pid} refused: {rc['error_code']}: "
                               f"{rc['error_message']}")
        status, height = rc["value"]["status"], res["height"]
        print(f"  vote by {address_of(k.public_key)[:10]}…: {status}", file=out, flush=True)
    p = Client(url).get(f"/governance/proposals/{pid}")["proposal"]
    if p["status"] != "passed":
        err = p.get("error") or {}
        raise RuntimeError(f"proposal {pid} is {p['status']}"
                           + (f": {err.get('code')}: {err.get('message')}" if err else
                              " (not enough governor keys in the testnet directory?)"))
    return p


def _next_name(m: dict) -> str:
    names = {n["name"] for n in m["nodes"]}
    i = len(m["nodes"])
    while f"node{i}" in names:
        i += 1
    return f"node{i}"


def _next_ports(m: dict) -> tuple[int, int]:
    top = max(int(n[k].rpartition(":")[2]) for n in m["nodes"] for k in ("p2p", "rpc"))
    return top + 1, top + 2


def wait_caught_up(url: str, ref_urls: list[str], timeout: float, name: str,
                   out=sys.stdout) -> int:
    """Wait until the node at `url` has the chain's head height (the highest any reference
    node reports when we start) and is not syncing. Returns its height."""
    target = max((s["height"] for s in map(_status, ref_urls) if s), default=0)
    last: dict = {}

    def done() -> bool:
        st = _status(url)
        if st is None:
            return False
        last.update(st)
        return st["height"] >= target and not st.get("syncing")

    _wait(done, timeout, f"{name} to catch up to height {target}",
          lambda: f"height {last.get('height', '?')} / {target}"
                  f"{' (syncing)' if last.get('syncing') else ''}", out)
    return last["height"]


class _Poke:
    """Blocks are made only when there is work: while waiting for something that needs new
    blocks, send a harmless transaction (a readiness attestation of `key`) whenever the chain
    has not moved for `every_s`."""

    def __init__(self, url: str, key: PrivateKey, every_s: float = 1.0) -> None:
        self.url, self.key, self.every_s = url, key, every_s
        self.next = time.monotonic() + every_s
        self.height = -1

    def __call__(self) -> None:
        if time.monotonic() < self.next:
            return
        self.next = time.monotonic() + self.every_s
        st = _status(self.url)
        if st is None or st["height"] != self.height:
            self.height = -1 if st is None else st["height"]
            return
        try:
            Client(self.url, self.key).call("sys.validators", "ready", {
                "height": st["height"], "hash": st["head_hash"]}, wait=False)
        except (OSError, RpcError):
            pass  # the next poke retries


class _SignatureWatch:
    """The first height above `above` whose commit certificate, as any of `urls` stored it,
    has a signature of validator `index`. Each poll reads only the blocks not read before."""

    def __init__(self, urls: list[str], index: int, above: int) -> None:
        self.index = index
        self.next = {u: above + 1 for u in urls}

    def __call__(self) -> int | None:
        for url, h in self.next.items():
            st = _status(url)
            top = -1 if st is None else st["height"]
            while h <= top:
                try:
                    b = Client(url).get(f"/blocks/{h}")
                except (OSError, ValueError, RpcError):
                    break
                if any(sig[0] == self.index for sig in b["certificate"]["signatures"]):
                    return h
                h += 1
            self.next[url] = h
        return None


def _compare(ref_url: str, url: str, name: str) -> str:
    """Where the network and the node are (height, view): what an operator checks first."""
    ref, st = _status(ref_url) or {}, _status(url) or {}
    return (f"chain at height {ref.get('height', '?')} view {ref.get('view', '?')}, {name} at "
            f"height {st.get('height', '?')} view {st.get('view', '?')}")


def add_node(root: Path, name: str | None = None, validator: bool = False,
             timeout: float = 120.0, out=sys.stdout) -> dict:
    m = testnet.manifest(root)
    name = joining.check_name(name or _next_name(m))
    if any(n["name"] == name for n in m["nodes"]):
        raise joining.JoinError(f"the testnet already has a node named {name!r}")
    url = _live_url(m)
    p2p, rpc = _next_ports(m)
    info = joining.init_node(root / name, root / "genesis.json", root / "ca", name,
                             p2p=f"127.0.0.1:{p2p}", rpc=f"127.0.0.1:{rpc}",
                             peers=[n["p2p"] for n in m["nodes"]])
    print(f"{name}: home {root / name}, address {info['address']}", file=out, flush=True)
    admin = load_private_key(root / m.get("admin_key", "admin.key"))
    rc = Client(url, admin).register(info["address"], ["member"], name)["receipt"]
    if rc["status"] != "ok":
        raise RuntimeError(f"registering {name} failed: {rc['error_code']}: "
                           f"{rc['error_message']}")
    print(f"{name}: registered as a member", file=out, flush=True)
    entry = {"name": name, "rpc": info["rpc"], "p2p": info["p2p"], "role": "observer",
             "added": True}
    m["nodes"].append(entry)
    _save_manifest(root, m)
    testnet.up(root, timeout, out=out, names=[name])
    refs = [n["rpc"] for n in m["nodes"] if n["name"] != name]
    height = wait_caught_up(info["rpc"], refs, timeout, name, out)
    print(f"{name}: caught up at height {height}", file=out, flush=True)
    res = joining.send_ready(root / name, url)
    rc = res["receipt"]
    if rc["status"] != "ok":
        raise RuntimeError(f"readiness attestation failed: {rc['error_code']}: "
                           f"{rc['error_message']}")
    print(f"{name}: attested ready at height {res['height']}", file=out, flush=True)
    result = {**info, "role": "observer", "ready_at": res["height"]}
    if not validator:
        return result
    p = decide(root, url, "add-validator", {"name": name, "public_key": info["public_key"],
                                            "p2p": info["p2p"]}, out)
    decided_at = p["decided_at"]
    t0 = time.monotonic()
    print(f"{name}: voted in at height {decided_at}; validates from {decided_at + 1}",
          file=out, flush=True)
    vs = Client(url).status().get("validator_set", {}).get("members", [])
    index = next(v["index"] for v in vs if v["name"] == name)
    urls = [n["rpc"] for n in m["nodes"]]
    poke = _Poke(url, admin)
    watch = _SignatureWatch(urls, index, decided_at)
    first = _wait(lambda: poke() or watch(), timeout,
                  f"{name} (validator {index}) to sign a commit certificate",
                  lambda: _compare(url, info["rpc"], name), out)
    took = time.monotonic() - t0
    print(f"{name}: signed the certificate of block {first}, {took:.1f}s after the decision",
          file=out, flush=True)
    entry["role"] = "validator"
    _save_manifest(root, m)
    return {**result, "role": "validator", "index": index, "decided_at": decided_at,
            "first_signed": first, "seconds_to_first_signature": round(took, 2)}


def remove_node(root: Path, name: str, force: bool = False, stop: bool = False,
                timeout: float = 120.0, out=sys.stdout) -> dict:
    m = testnet.manifest(root)
    entry = next((n for n in m["nodes"] if n["name"] == name), None)
    url = _live_url(m, skip=name)
    p = decide(root, url, "remove-validator", {"name": name, "force": force}, out)
    decided_at = p["decided_at"]
    print(f"{name}: voted out at height {decided_at}; not a validator from {decided_at + 1}",
          file=out, flush=True)

    poke = _Poke(url, load_private_key(root / m.get("admin_key", "admin.key")))

    def out_everywhere() -> bool:
        poke()
        for n in m["nodes"]:
            st = _status(n["rpc"])
            if st is None or n["name"] == name:
                continue
            vs = st.get("validator_set", {})
            if st["height"] <= decided_at or any(v["name"] == name for v in vs.get("members", [])):
                return False
        return True
    _wait(out_everywhere, timeout, f"every running node to drop {name}", None, out)
    if entry is not None:
        entry["role"] = "observer"
        _save_manifest(root, m)
    stopped = False
    if stop and entry is not None:
        pidf = root / name / "node.pid"
        if pidf.exists():
            testnet.stop_pid(int(pidf.read_text()))
            pidf.unlink()
            stopped = True
            print(f"{name}: stopped", file=out, flush=True)
    return {"name": name, "decided_at": decided_at, "stopped": stopped}


def cli(a, show: Callable[[object], None]) -> int:
    """`chainnode testnet add-node|remove-node` (progress on stderr, the result as JSON)."""
    root = Path(a.dir)
    if a.action == "add-node":
        show(add_node(root, a.name, a.validator, a.timeout, out=sys.stderr))
        return 0
    if not a.name:
        raise joining.JoinError("remove-node needs --name (the validator to remove)")
    show(remove_node(root, a.name, a.force, a.stop, a.timeout, out=sys.stderr))
    return 0
