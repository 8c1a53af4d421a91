"""`chainnode network init`: a network whose nodes run on several machines (see netpack.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from chainnode import hostsfile

EPILOG = f"""hosts file: {hostsfile.HOSTS_FORMAT}, e.g.
  # two nodes on the first machine, one on each of the others
  10.0.0.11:2
  10.0.0.12:1
  [2001:db8::13]:1
  node4.example.net:1
Output: DIR/<address>/ per host (copy it there; run start.sh or install chainnode@.service),
DIR/<address>.tar.gz with --tar; DIR keeps admin.key and ca/ca.key: do not copy them."""


def _init(a: argparse.Namespace) -> int:
    from chainnode import netpack
    from chainnode.cli import _genesis_params

    path = Path(a.hosts)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SystemExit(f"error: --hosts {path}: {exc.strerror or exc}") from None
    hosts = hostsfile.parse_hosts(text, str(path))
    packages = netpack.init(Path(a.dir), hosts, a.chain_id, a.base_port, a.listen,
                            a.rpc_listen, _genesis_params(a.param), a.accounts, a.tar,
                            a.install_dir, str(path))
    total = sum(len(p.nodes) for p in packages)
    print(f"network {a.chain_id}: {total} validators on {len(packages)} hosts in {a.dir}")
    for p in packages:
        where = p.tarball or p.path
        print(f"  {p.host}: {', '.join(n.name for n in p.nodes)} -> {where}")
        for n in p.nodes:
            print(f"    {n.name}: p2p {hostsfile.url_host(n.host)}:{n.p2p_port}, "
                  f"rpc port {n.rpc_port}"
                  + (f", listening on {a.listen}" if a.listen else ""))
    if total < 4:
        print(f"  note: {total} validators tolerate no faulty one (PBFT needs 3f+1; 4 for f=1)")
    ports = f"{a.base_port}-{a.base_port + 2 * max(len(p.nodes) for p in packages) - 1}/tcp"
    print(f"  firewall: open {ports} between the hosts (even ports p2p, odd ports RPC)")
    print(f"  admin key: {Path(a.dir) / 'admin.key'} (keep it and ca/ca.key off the hosts)")
    print("next: copy each package to its host, then run ./start.sh there "
          "(or install chainnode@.service)")
    return 0


def add_parser(sub) -> None:
    n = sub.add_parser("network", help="networks across machines: one package per host",
                       description="Networks whose nodes run on several machines.")
    ns = n.add_subparsers(dest="network_cmd", required=True, metavar="ACTION",
                          help="chainnode network ACTION --help shows the action's options")
    i = ns.add_parser("init", help="write one package per host from a hosts file",
                      description="Write a new chain (genesis, keys, TLS CA) and one package "
                                  "per host: its nodes' homes, certificates, the genesis, "
                                  "start/stop scripts and a systemd unit.",
                      epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    i.add_argument("--hosts", required=True, metavar="FILE",
                   help="hosts file: ADDRESS:COUNT per line, '#' comments (see below)")
    i.add_argument("--dir", required=True, help="output directory (must not hold a network)")
    i.add_argument("--listen", metavar="ADDR",
                   help="bind p2p and RPC to ADDR (e.g. 0.0.0.0) instead of the host's address; "
                        "peers still dial the host's address")
    i.add_argument("--rpc-listen", metavar="ADDR",
                   help="bind RPC to ADDR (e.g. 127.0.0.1 to keep it local; default: as p2p)")
    i.add_argument("--chain-id", default="chainnode", help="chain id (default: chainnode)")
    i.add_argument("--base-port", type=int, default=hostsfile.DEFAULT_BASE_PORT,
                   help="a host's k-th node uses p2p BASE+2k and RPC BASE+2k+1 "
                        f"(default {hostsfile.DEFAULT_BASE_PORT})")
    i.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="genesis parameter, e.g. view_timeout_ms=1000 (repeatable)")
    i.add_argument("--accounts", type=int, default=0,
                   help="extra member accounts to create (keys stay in --dir)")
    i.add_argument("--tar", action="store_true", help="also write DIR/<address>.tar.gz per host")
    i.add_argument("--install-dir", default="/opt/chainnode",
                   help="where the systemd unit expects the package on the host "
                        "(default /opt/chainnode)")
    i.set_defaults(fn=_init)
