"""`chainnode cert issue` and `chainnode node init|ready`: joining a node without Python.

  chainnode cert issue --ca tn/ca --name edge5 --out ./edge5 [--san HOST ...]
  chainnode node init --dir ./edge5 --genesis tn/genesis.json --ca tn/ca --name edge5 \
      [--p2p HOST:PORT --rpc HOST:PORT --peers HOST:PORT ...]
  chainnode node ready --home ./edge5 [--url URL]

`node init` prints {"address", "public_key", ...} as JSON: the address is what an admin
registers as a member, the public key what a governor proposes in add-validator.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from chainnode.joining import DEFAULT_P2P, DEFAULT_RPC


def add_parser(sub, show: Callable[[object], None]) -> None:
    c = sub.add_parser("cert", help="TLS certificates from the network CA")
    cs = c.add_subparsers(dest="cert_cmd", required=True, metavar="ACTION",
                         help="issue: a TLS certificate from the network CA")
    ci = cs.add_parser("issue", help="issue a node TLS certificate (<out>/<name>.crt and .key)")
    ci.add_argument("--ca", required=True, metavar="DIR",
                    help="the network CA directory (ca.crt and ca.key; `testnet init` makes "
                         "<testnet>/ca)")
    ci.add_argument("--name", required=True, help="node name: the certificate's CN and "
                                                  "file names")
    ci.add_argument("--out", required=True, metavar="DIR", help="directory to write into")
    ci.add_argument("--san", nargs="+", action="extend", default=[], metavar="HOST",
                    help="host names or IPs the certificate is for (default 127.0.0.1 "
                         "localhost); repeatable")

    def cert_issue(a: argparse.Namespace) -> int:
        from chainnode.joining import issue_cert

        cert, key = issue_cert(a.ca, a.name, a.out, a.san)
        show({"name": a.name, "cert": str(cert), "key": str(key)})
        return 0
    ci.set_defaults(fn=cert_issue)

    n = sub.add_parser("node", help="create a node home, or attest that a node is ready")
    ns = n.add_subparsers(dest="node_cmd", required=True, metavar="ACTION",
                         help="init: a node home (key, cert, node.json); ready: attest caught up")
    ni = ns.add_parser("init", help="new node home: SM2 key, TLS cert, genesis, node.json "
                                    "(prints address and public key as JSON)")
    ni.add_argument("--dir", required=True, help="the node home to create (must not exist "
                                                 "or be empty)")
    ni.add_argument("--genesis", required=True, metavar="FILE",
                    help="the network's genesis.json (copied into the home)")
    ni.add_argument("--ca", required=True, metavar="DIR",
                    help="the network CA directory (ca.crt and ca.key)")
    ni.add_argument("--name", required=True, help="node name (logs, /status, certificate CN)")
    ni.add_argument("--p2p", default=DEFAULT_P2P, metavar="HOST:PORT",
                    help=f"peer listener (default {DEFAULT_P2P})")
    ni.add_argument("--rpc", default=DEFAULT_RPC, metavar="HOST:PORT",
                    help=f"HTTP RPC listener (default {DEFAULT_RPC})")
    ni.add_argument("--peers", nargs="+", action="extend", default=[], metavar="HOST:PORT",
                    help="p2p addresses of the validators to dial")
    ni.add_argument("--san", nargs="+", action="extend", default=[], metavar="HOST",
                    help="extra certificate hosts (default: the p2p host, 127.0.0.1, "
                         "localhost)")

    def node_init(a: argparse.Namespace) -> int:
        from chainnode.joining import init_node

        show(init_node(a.dir, a.genesis, a.ca, a.name, p2p=a.p2p, rpc=a.rpc, peers=a.peers,
                       hosts=a.san))
        return 0
    ni.set_defaults(fn=node_init)

    nr = ns.add_parser("ready", help="attest (sys.validators.ready, signed by the node key) "
                                     "that this running node is caught up: the add-validator "
                                     "rail")
    nr.add_argument("--home", required=True, help="the node's home (node.json, node.key)")
    nr.add_argument("--url", help="RPC to send the attestation to (default: the node's own)")

    def node_ready(a: argparse.Namespace) -> int:
        from chainnode.joining import send_ready

        res = send_ready(a.home, a.url)
        show(res)
        rc = res.get("receipt")
        return 0 if rc is None or rc["status"] == "ok" else 2
    nr.set_defaults(fn=node_ready)
