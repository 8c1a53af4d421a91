"""Networks that span machines: one package per host.

`chainnode network init --hosts FILE --dir D` reads a hosts file (hostsfile.py) and writes, for each host, a directory that holds
everything its nodes need: their homes (SM2 key, TLS certificate whose SAN is the host's
address, node.json), the shared genesis and the CA certificate, a start and a stop script and a
systemd unit. Nothing private to the operator (admin key, CA key) goes into a package.

Every host uses the same ports (its k-th node: p2p base+2k, RPC base+2k+1), since the hosts
are different machines. Nodes listen on their host's address, or on `--listen` (e.g. 0.0.0.0)
while their peers still dial the host's address.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from chainnode import bootstrap
from chainnode.config import NodeConfig
from chainnode.core.tx import CHAIN_ID_RE
from chainnode.crypto.keyfile import save_private_key
from chainnode.hostsfile import (
    DEFAULT_BASE_PORT,
    HostEntry,
    PlannedNode,
    check_listen,
    package_name,
    plan,
    rpc_url,
)

DEFAULT_INSTALL_DIR = "/opt/chainnode"
START_SH = """#!/bin/sh
# Start this host's chainnode nodes in the background (log: nodeN/node.log, pid: nodeN/node.pid)
# and wait until each one's RPC answers. CHAINNODE overrides the command (e.g. "python3 -m chainnode").
set -e
cd "$(dirname "$0")"
exec ${CHAINNODE:-chainnode} testnet up --dir .
"""
STOP_SH = """#!/bin/sh
# Stop this host's nodes started by start.sh: SIGTERM, SIGKILL only after 10 s.
set -e
cd "$(dirname "$0")"
exec ${CHAINNODE:-chainnode} testnet down --dir .
"""
UNIT = """# systemd unit for the chainnode nodes of one host; the instance name is the node's name.
# Install: the package's contents as {install_dir} (so {install_dir}/node0/node.json exists),
# owned by the user `chainnode`; this file in /etc/systemd/system/; then
#   systemctl daemon-reload && systemctl enable --now chainnode@node0
# ExecStart: the chainnode command as installed on the host (e.g. a virtualenv's bin/chainnode).
[Unit]
Description=chainnode node %i
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=chainnode
Group=chainnode
WorkingDirectory={install_dir}/%i
Environment=PYTHONHASHSEED=0
ExecStart={exe} start --home {install_dir}/%i
# SIGTERM stops a node within about a second; give it some margin before SIGKILL.
KillSignal=SIGTERM
TimeoutStopSec=15
Restart=on-failure
RestartSec=5
# 74: storage failure (disk full, write error). Restarting on the same disk only fails again.
RestartPreventExitStatus=74
LimitNOFILE=65536
NoNewPrivileges=true
ProtectSystem=full
ReadWritePaths={install_dir}

[Install]
WantedBy=multi-user.target
"""


def unit_text(install_dir: str = DEFAULT_INSTALL_DIR,
              exe: str = "/usr/local/bin/chainnode") -> str:
    return UNIT.format(install_dir=install_dir.rstrip("/"), exe=exe)


@dataclass(frozen=True)
class Package:
    host: str
    path: Path
    nodes: tuple[PlannedNode, ...]
    tarball: Path | None


def init(root: Path, hosts: tuple[HostEntry, ...], chain_id: str = "chainnode",
         base_port: int = DEFAULT_BASE_PORT, listen: str | None = None,
         rpc_listen: str | None = None, params: dict | None = None, accounts: int = 0,
         tar: bool = False, install_dir: str = DEFAULT_INSTALL_DIR,
         source: str = "hosts file") -> tuple[Package, ...]:
    """Write the network into `root`: its genesis, admin key and CA, and one package per host."""
    if not CHAIN_ID_RE.fullmatch(chain_id):
        raise ValueError(f"--chain-id {chain_id!r} must be 1-64 characters of [A-Za-z0-9._-], "
                         "starting with a letter or digit")
    nodes = plan(hosts, base_port, source)
    check_listen(listen, hosts)
    check_listen(rpc_listen, hosts, "--rpc-listen", loopback_ok=True)
    if (root / "network.json").exists() or (root / "genesis.json").exists():
        raise FileExistsError(f"{root} already holds a network (genesis.json exists); "
                              "choose another --dir")
    root.mkdir(parents=True, exist_ok=True)
    for h in hosts:
        if (root / package_name(h.address)).exists():
            raise FileExistsError(f"{root / package_name(h.address)} exists; choose another --dir")
    chain = bootstrap.make_chain(root, len(nodes), 0, chain_id, params, accounts)
    ca_cert, ca_key = bootstrap.make_ca(root)
    peers = [n.p2p for n in nodes]
    packages = []
    rpc_bind: dict[str, str] = {}
    for h in hosts:
        pkg = root / package_name(h.address)
        pkg.mkdir()
        shutil.copyfile(ca_cert, pkg / "ca.crt")
        chain.genesis.save(pkg / "genesis.json")
        mine = tuple(n for n in nodes if n.host == h.address)
        rpc_bind[h.address] = rpc_listen or listen or h.address
        for n in mine:
            home = pkg / n.name
            tls = bootstrap.node_tls(ca_cert, ca_key, n.name, home, (h.address,),
                                     ca_in_home=pkg / "ca.crt")
            save_private_key(home / "node.key", chain.node_keys[n.index])
            chain.genesis.save(home / "genesis.json")
            cfg = NodeConfig(name=n.name, chain_id=chain_id,
                             p2p_host=listen or h.address, p2p_port=n.p2p_port,
                             rpc_host=rpc_bind[h.address], rpc_port=n.rpc_port,
                             peers=[p for p in peers if p != n.p2p])
            cfg.tls_ca, cfg.tls_cert, cfg.tls_key = tls
            cfg.home = home
            cfg.save()
        _write(pkg / "testnet.json", json.dumps({
            "chain_id": chain_id, "host": h.address, "validators": len(mine), "observers": 0,
            "nodes": [{"name": n.name, "rpc": rpc_url(n, rpc_bind[n.host]),
                       "p2p": n.p2p} for n in mine]}, indent=2) + "\n")
        _write(pkg / "start.sh", START_SH, 0o755)
        _write(pkg / "stop.sh", STOP_SH, 0o755)
        _write(pkg / "chainnode@.service", unit_text(install_dir))
        tarball = _tar(pkg) if tar else None
        packages.append(Package(h.address, pkg, mine, tarball))
    _write(root / "network.json", json.dumps({
        "chain_id": chain_id, "genesis_hash": chain.genesis.hash().hex(),
        "base_port": base_port, "listen": listen, "rpc_listen": rpc_listen,
        "admin_key": "admin.key",
        "hosts": [{"address": p.host, "package": p.path.name,
                   "tarball": p.tarball.name if p.tarball else None,
                   "nodes": [n.name for n in p.nodes]} for p in packages],
        "nodes": [{"name": n.name, "host": n.host, "p2p": n.p2p,
                   "rpc": rpc_url(n, rpc_bind[n.host])} for n in nodes]}, indent=2) + "\n")
    return tuple(packages)


def _write(path: Path, text: str, mode: int | None = None) -> None:
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)


def _tar(pkg: Path) -> Path:
    """pkg.tar.gz next to the package, one top directory, file modes kept (keys stay 0600)."""
    out = pkg.with_name(pkg.name + ".tar.gz")

    def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(out, "w:gz") as tf:
        tf.add(pkg, arcname=pkg.name, filter=owner)
    return out
