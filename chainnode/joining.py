"""Joining a node to a running network without Python: certificates, node homes, readiness.

The code behind `chainnode cert issue`, `chainnode node init` and `chainnode node ready`, and
what `chainnode testnet add-node` builds on. Certificates come from the network CA that
`testnet init` made (chainnode.net.tls, the same functions); a node home has the layout
`testnet init` writes (node.key, genesis.json, <name>.crt/.key, node.json; plus a copy of the
CA certificate, ca.crt, so the home can be moved to another machine without the CA key).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from chainnode.config import NodeConfig
from chainnode.core.genesis import Genesis
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import save_private_key
from chainnode.crypto.sm2 import PrivateKey
from chainnode.exec.gov_kinds import HOSTPORT_RE, NAME_RE

DEFAULT_P2P = "127.0.0.1:26656"
DEFAULT_RPC = "127.0.0.1:8545"
READY_ATTEMPTS = 3  # attestations sent when the previous one went stale before its block

log = logging.getLogger("chainnode.joining")


class JoinError(ValueError):
    """Bad input to a joining command: one line for the operator."""


def ca_files(ca_dir: str | Path) -> tuple[Path, Path]:
    """The CA certificate and key in `ca_dir` (as `testnet init` writes them)."""
    d = Path(ca_dir)
    cert, key = d / "ca.crt", d / "ca.key"
    if not d.is_dir():
        raise JoinError(f"CA directory {d} does not exist (testnet init writes it as <dir>/ca)")
    missing = [p.name for p in (cert, key) if not p.is_file()]
    if missing:
        raise JoinError(f"CA directory {d} lacks {' and '.join(missing)}")
    return cert, key


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name or ""):
        raise JoinError(f"node name {name!r} must be 1-64 characters of A-Z a-z 0-9 . _ - "
                        "starting with a letter or digit")
    return name


def host_port(text: str, flag: str) -> tuple[str, int]:
    m = HOSTPORT_RE.fullmatch(text or "")
    port = int(m.group(1) or m.group(2)) if m else 0
    if not 1 <= port <= 65535:
        raise JoinError(f"{flag} must be HOST:PORT with a port in 1..65535; got {text!r}")
    host = text.rpartition(":")[0]
    return host.strip("[]"), port


def issue_cert(ca_dir: str | Path, name: str, out_dir: str | Path,
               hosts: list[str] | tuple[str, ...] = ()) -> tuple[Path, Path]:
    """A TLS certificate for node `name` from the network CA: <out>/<name>.crt and .key."""
    from chainnode.net import tls

    check_name(name)
    ca_cert, ca_key = ca_files(ca_dir)
    out = Path(out_dir)
    for p in (out / f"{name}.crt", out / f"{name}.key"):
        if p.exists():
            raise JoinError(f"{p} exists; choose another --out or remove it")
    try:
        return tls.issue_cert(ca_cert, ca_key, name, out, tuple(hosts) or tls.DEFAULT_HOSTS)
    except tls.TLSMaterialError as exc:
        raise JoinError(str(exc)) from exc


def load_genesis(path: str | Path) -> Genesis:
    try:
        return Genesis.load(path)
    except FileNotFoundError as exc:
        raise JoinError(f"genesis {path} does not exist") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise JoinError(f"genesis {path} is not a readable genesis file: {exc}") from exc


def init_node(home: str | Path, genesis_file: str | Path, ca_dir: str | Path, name: str, *,
              p2p: str = DEFAULT_P2P, rpc: str = DEFAULT_RPC, peers: list[str] | None = None,
              hosts: list[str] | tuple[str, ...] = ()) -> dict:
    """Create a node home: SM2 key, genesis copy, TLS certificate, node.json (role observer:
    a joining node follows until governance votes its key in). Returns what the operator
    needs next: the address to register and the public key to propose."""
    home = Path(home)
    check_name(name)
    p2p_host, p2p_port = host_port(p2p, "--p2p")
    rpc_host, rpc_port = host_port(rpc, "--rpc")
    for p in peers or []:
        host_port(p, "--peers")
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise JoinError(f"{home} exists and is not empty; choose a new --dir")
    genesis = load_genesis(genesis_file)
    ca_files(ca_dir)
    created = not home.exists()
    home.mkdir(parents=True, exist_ok=True)
    try:
        key = PrivateKey.generate()
        save_private_key(home / "node.key", key)
        shutil.copyfile(genesis_file, home / "genesis.json")
        cert, tls_key = issue_cert(ca_dir, name, home, list(hosts) or _default_hosts(p2p_host))
        shutil.copyfile(Path(ca_dir) / "ca.crt", home / "ca.crt")  # the home is self-contained
        cfg = NodeConfig(name=name, chain_id=genesis.chain_id, rpc_host=rpc_host,
                         rpc_port=rpc_port, p2p_host=p2p_host, p2p_port=p2p_port,
                         peers=list(peers or []), role="observer",
                         tls_ca="ca.crt",
                         tls_cert=cert.name, tls_key=tls_key.name)
        cfg.home = home
        cfg.save()
    except BaseException:
        if created:
            shutil.rmtree(home, ignore_errors=True)
        raise
    return {"name": name, "home": str(home), "address": address_of(key.public_key),
            "public_key": key.public_key.hex(), "chain_id": genesis.chain_id,
            "p2p": f"{p2p_host}:{p2p_port}", "rpc": f"http://{rpc_host}:{rpc_port}"}


def _default_hosts(p2p_host: str) -> list[str]:
    from chainnode.net import tls

    return list(dict.fromkeys([p2p_host, *tls.DEFAULT_HOSTS]))


def rpc_url(cfg: NodeConfig) -> str:
    host = "127.0.0.1" if cfg.rpc_host in ("0.0.0.0", "") else cfg.rpc_host
    return f"http://{host}:{cfg.rpc_port}"


def send_ready(home: str | Path, url: str | None = None) -> dict:
    """The node's readiness attestation (sys.validators.ready): its own head height and hash,
    read from its own RPC, signed with its node key and sent to `url` (default: the node)."""
    from chainnode.client import Client
    from chainnode.crypto.keyfile import load_private_key

    cfg = NodeConfig.load(home)
    pw = os.environ.get("CHAINNODE_KEY_PASSPHRASE")
    key = load_private_key(cfg.path(cfg.key_file), pw.encode() if pw else None)
    for attempt in range(READY_ATTEMPTS):
        st = Client(rpc_url(cfg)).status()
        args = {"height": st["height"], "hash": st["head_hash"]}
        res = Client(url or rpc_url(cfg), key).call("sys.validators", "ready", args)
        # a busy chain may move more than READY_MAX_LAG blocks while the attestation waits
        # for its block: attest again from the new head rather than fail the join
        if (res.get("receipt") or {}).get("error_code") != "READY_STALE":
            break
        log.info("readiness attestation at %d went stale (attempt %d); attesting again",
                 args["height"], attempt + 1)
    return {"node": cfg.name, "attested": args, **res}
