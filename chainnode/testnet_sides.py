"""Multi-chain local testnets: `chainnode testnet init --sidechains N` and its up/down/status.

Layout under --dir: `main/` and `edge-1/` ... `edge-N/` are ordinary single-chain testnets
(chainnode.testnet, so keys, genesis and TLS come from chainnode.bootstrap); `relayer-i/`
holds the key, log and pid of the relayer between main and edge-i; `sidechains.json` lists it
all. sys.anchor has no genesis hook, so `up` creates the light clients right after the chains
answer, by governance proposals of each chain's admin (the sole governor of a new testnet),
trusting the other chain's current certified header; it also registers each relayer's key
with the relayer role on both of its chains. Both steps are skipped once done.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from chainnode import testnet
from chainnode.client import Client, RpcError
from chainnode.core.genesis import Genesis
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import load_private_key, save_private_key
from chainnode.crypto.sm2 import PrivateKey

MANIFEST = "sidechains.json"
MAIN_ID = "chainnode-main"
EDGE_PORT_STRIDE = 100  # edge i uses base_port + i * 100
RELAYER_METRICS_OFFSET = 90  # relayer i serves metrics on its edge's base port + 90
TRUST = {"trusting_period_ms": 3_600_000, "max_clock_drift_ms": 30_000}


def is_multi(root: Path) -> bool:
    return (root / MANIFEST).exists()


def load(root: Path) -> dict:
    return json.loads((root / MANIFEST).read_text())


def init(root: Path, nodes: int, sidechains: int, side_nodes: int | list[int] = 1,
         base_port: int = 26600, params: dict | None = None, accounts: int = 0,
         trust: dict | None = None) -> dict:
    if sidechains < 1:
        raise ValueError("--sidechains must be at least 1")
    per_edge = side_nodes if isinstance(side_nodes, list) else [side_nodes] * sidechains
    if len(per_edge) != sidechains or min(per_edge) < 1:
        raise ValueError("--side-nodes must be at least 1 (one count per side chain)")
    if (root / MANIFEST).exists():
        raise FileExistsError(f"{root} already holds a testnet ({MANIFEST} exists)")
    root.mkdir(parents=True, exist_ok=True)
    chains = [{"name": "main", "chain_id": MAIN_ID, "dir": "main", "base_port": base_port}]
    testnet.init(root / "main", nodes, 0, MAIN_ID, base_port, params, accounts,
                 shared_machine=True)
    relayers = []
    for i in range(1, sidechains + 1):
        port = base_port + i * EDGE_PORT_STRIDE
        cid = f"district-{i}"
        testnet.init(root / f"edge-{i}", per_edge[i - 1], 0, cid, port, params, accounts,
                     shared_machine=True)
        chains.append({"name": f"edge-{i}", "chain_id": cid, "dir": f"edge-{i}",
                       "base_port": port})
        rdir = root / f"relayer-{i}"
        rdir.mkdir(exist_ok=True)
        key = PrivateKey.generate()
        save_private_key(rdir / "relayer.key", key)
        relayers.append({"name": f"relayer-{i}", "dir": f"relayer-{i}", "a": "main",
                         "b": f"edge-{i}", "address": address_of(key.public_key),
                         "metrics_port": port + RELAYER_METRICS_OFFSET})
    doc = {"chains": chains, "relayers": relayers, "trust": {**TRUST, **(trust or {})}}
    (root / MANIFEST).write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def _chain(root: Path, name: str) -> tuple[Path, dict]:
    d = root / name
    return d, testnet.manifest(d)


def _admin(root: Path, name: str) -> Client:
    d, m = _chain(root, name)
    return Client(m["nodes"][0]["rpc"], load_private_key(d / "admin.key"))


def _ok(res: dict, what: str, benign: tuple[str, ...] = ()) -> None:
    rc = res.get("receipt") or {}
    if rc.get("status") != "ok" and rc.get("error_code") not in benign:
        raise RuntimeError(f"{what} failed: {rc.get('error_code')}: {rc.get('error_message')}")


def _create_client(on: Client, of: Client, of_dir: Path, trust: dict) -> bool:
    """Create `on`'s light client of `of` unless it exists; True if created now."""
    try:
        on.get(f"/anchor/clients/{of.chain_id}")
        return False
    except RpcError as exc:
        if exc.status != 404:
            raise
    g = Genesis.load(of_dir / "genesis.json")
    h = of.height()
    hdr = of.get(f"/anchor/header/{h}")
    payload = {"chain_id": of.chain_id, "genesis_hash": g.hash().hex(),
               "header_hex": hdr["header_hex"],
               "validators": [[v.name, v.public_key.hex()] for v in g.validators],
               "params": trust}
    _ok(on.call("sys.governance", "propose", {"kind": "create-client", "payload": payload}),
        f"create-client of {of.chain_id} on {on.chain_id}")
    return True


def setup_anchors(root: Path, out=sys.stdout) -> None:
    """Register the relayers and create the light clients (idempotent)."""
    doc = load(root)
    admins = {c["name"]: _admin(root, c["name"]) for c in doc["chains"]}
    for r in doc["relayers"]:
        for side in (r["a"], r["b"]):
            known = admins[side].state("sys.members", r["address"]).value
            if isinstance(known, dict) and known.get("active"):
                continue
            _ok(admins[side].register(r["address"], ["relayer"], r["name"]),
                f"registering {r['name']} on {side}", benign=("ALREADY_MEMBER",))
    for r in doc["relayers"]:
        for on, of in ((r["a"], r["b"]), (r["b"], r["a"])):
            if _create_client(admins[on], admins[of], root / of, doc["trust"]):
                print(f"{on}: light client of {admins[of].chain_id} created", file=out)


def relayer_cmd(root: Path, r: dict) -> list[str]:
    a, b = (",".join(n["rpc"] for n in testnet.manifest(root / side)["nodes"])
            for side in (r["a"], r["b"]))
    return [sys.executable, "-m", "chainnode", "relay", "--a", a, "--b", b,
            "--key", str(root / r["dir"] / "relayer.key"),
            "--metrics-port", str(r["metrics_port"])]


def start_relayer(root: Path, r: dict, out=sys.stdout, extra: tuple[str, ...] = ()) -> int:
    rdir = root / r["dir"]
    pidf = rdir / "relayer.pid"
    if pidf.exists() and testnet.pid_alive(int(pidf.read_text())):
        print(f"{r['name']}: already running (pid {pidf.read_text().strip()})", file=out)
        return int(pidf.read_text())
    log = open(rdir / "relayer.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(relayer_cmd(root, r) + list(extra), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    pidf.write_text(str(proc.pid))
    print(f"{r['name']}: started pid {proc.pid}, log {rdir / 'relayer.log'}", file=out)
    return proc.pid


def stop_relayer(root: Path, r: dict, out=sys.stdout) -> None:
    pidf = root / r["dir"] / "relayer.pid"
    if pidf.exists():
        pid = int(pidf.read_text())
        killed = testnet.stop_pid(pid, timeout=10.0)
        print(f"{r['name']}: {'killed' if killed else 'stopped'} pid {pid}", file=out)
        pidf.unlink()


def up(root: Path, timeout: float = 60.0, out=sys.stdout,
       relayer_args: tuple[str, ...] = ()) -> None:
    doc = load(root)
    for c in doc["chains"]:
        print(f"== {c['name']} ({c['chain_id']})", file=out)
        testnet.up(root / c["dir"], timeout, out)
    setup_anchors(root, out)
    for r in doc["relayers"]:
        start_relayer(root, r, out, relayer_args)


def down(root: Path, out=sys.stdout) -> None:
    doc = load(root)
    for r in doc["relayers"]:
        stop_relayer(root, r, out)
    for c in doc["chains"]:
        testnet.down(root / c["dir"], out=out)


def client_rows(root: Path) -> list[dict]:
    """Each light client (on both sides of every relayer): trusted height, lag, status."""
    doc = load(root)
    rows = []
    for r in doc["relayers"]:
        for on, of in ((r["a"], r["b"]), (r["b"], r["a"])):
            on_url = testnet.manifest(root / on)["nodes"][0]["rpc"]
            of_url = testnet.manifest(root / of)["nodes"][0]["rpc"]
            row = {"on": on, "of": of, "status": "unreachable", "trusted_height": None,
                   "lag_blocks": None, "lag_seconds": None}
            try:
                of_c = Client(of_url, timeout=2)
                c = Client(on_url, timeout=2).get(f"/anchor/clients/{of_c.chain_id}")
                head = of_c.height()
                head_t = of_c.get(f"/anchor/header/{head}")["header"]["timestamp_ms"]
                row.update(status=c["status"], trusted_height=c["latest_height"],
                           lag_blocks=head - c["latest_height"],
                           lag_seconds=round(max(head_t - c["latest_time_ms"], 0) / 1000, 1))
            except RpcError as exc:
                row["status"] = "missing" if exc.status == 404 else f"error {exc.code}"
            except OSError:
                pass
            rows.append(row)
    return rows


def status(root: Path, out=sys.stdout) -> bool:
    doc = load(root)
    ok = True
    for c in doc["chains"]:
        print(f"== {c['name']} ({c['chain_id']})", file=out)
        ok = all(testnet.status(root / c["dir"], out)) and ok
    for r in doc["relayers"]:
        pidf = root / r["dir"] / "relayer.pid"
        alive = pidf.exists() and testnet.pid_alive(int(pidf.read_text()))
        ok = ok and alive
        print(f"{r['name']} ({r['a']} <-> {r['b']}): "
              f"{'running pid ' + pidf.read_text().strip() if alive else 'STOPPED'}", file=out)
    for row in client_rows(root):
        print(f"client on {row['on']} of {row['of']}: {row['status']} trusted height "
              f"{row['trusted_height']} lag {row['lag_blocks']} blocks "
              f"{row['lag_seconds']} s", file=out)
        ok = ok and row["status"] == "active"
    return ok


def cli(a, root: Path) -> int:
    """`chainnode testnet ACTION` for a multi-chain testnet."""
    if a.action == "init":
        from chainnode.cli import _genesis_params

        doc = init(root, a.nodes, a.sidechains, a.side_nodes, a.base_port,
                   _genesis_params(a.param), a.accounts)
        for c in doc["chains"]:
            print(f"{c['name']}: chain {c['chain_id']} in {root / c['dir']}")
        for r in doc["relayers"]:
            print(f"{r['name']}: {r['a']} <-> {r['b']}, metrics on port {r['metrics_port']}")
        print(f"next: chainnode testnet up --dir {root}")
    elif a.action == "up":
        up(root, a.timeout)
    elif a.action == "down":
        down(root)
    else:
        return 0 if status(root) else 1
    return 0
