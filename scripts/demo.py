#!/usr/bin/env python3
"""The demo scenario behind scripts/demo.sh: a testnet, accounts, and what happened, in print.

It starts the testnet with the CLI, registers the platform's accounts through the SDK,
checks a proof the way an auditor would, deploys the power contracts when the VM is present,
and prints a summary. The caller (demo.sh) stops the testnet.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chainnode import testnet  # noqa: E402
from chainnode.client import Client  # noqa: E402
from chainnode.core.genesis import Genesis  # noqa: E402
from chainnode.crypto.address import address_of  # noqa: E402
from chainnode.crypto.keyfile import load_private_key, save_private_key  # noqa: E402
from chainnode.crypto.sm2 import PrivateKey  # noqa: E402

ACCOUNTS = [
    ("marketing-dept", ["member"]), ("finance-dept", ["member"]), ("bank-icbc", ["member"]),
    ("edge-terminal-d1", ["terminal"]), ("edge-terminal-d2", ["terminal"]),
    ("edge-terminal-d3", ["terminal"]), ("auditor", ["auditor"]), ("relayer-edge", ["relayer"]),
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--base-port", type=int, default=26600)
    a = ap.parse_args()
    root = Path(a.dir)
    t0 = time.monotonic()
    sent = 0
    print(f"==> creating a {a.nodes}-validator testnet in {root}")
    g = testnet.init(root, a.nodes, base_port=a.base_port)
    print(f"    chain {g.chain_id}, genesis {g.hash().hex()[:16]}, validators: "
          + ", ".join(v.name for v in g.validators))
    print("==> starting nodes")
    testnet.up(root)
    nodes = testnet.manifest(root)["nodes"]
    admin = Client(nodes[0]["rpc"], load_private_key(root / "admin.key"))

    print("==> registering the platform's accounts (admin-signed SM2 transactions)")
    keys = {}
    for name, roles in ACCOUNTS:
        k = PrivateKey.generate()
        save_private_key(root / f"{name}.key", k)
        keys[name] = k
        r = admin.register(address_of(k.public_key), roles, name)
        sent += 1
        rc = r["receipt"]
        print(f"    {name:<18} {address_of(k.public_key)} roles={roles} -> block {r['height']} "
              f"{rc['status']}")

    print("==> a non-member tries to send a transaction")
    outsider = Client(nodes[-1]["rpc"], PrivateKey.generate())
    try:
        outsider.call("sys.members", "register",
                      {"address": "00" * 20, "roles": ["admin"]})
        sent += 1
        print("    UNEXPECTED: accepted")
    except Exception as exc:  # RpcError
        print(f"    rejected: {exc}")

    print("==> a member without the admin role tries to grant itself admin")
    mk = Client(nodes[0]["rpc"], keys["marketing-dept"])
    r = mk.call("sys.members", "set_roles",
                {"address": address_of(keys["marketing-dept"].public_key), "roles": ["admin"]})
    sent += 1
    print(f"    receipt: {r['receipt']['status']} {r['receipt']['error_code']}: "
          f"{r['receipt']['error_message']}")

    print("==> an auditor verifies a membership record against a certified header")
    auditor = Client(nodes[-1]["rpc"])
    st = auditor.state("sys.members", address_of(keys["bank-icbc"].public_key),
                       Genesis.load(root / "genesis.json"))
    print(f"    bank-icbc record {st.value} proven at height {st.height}, "
          f"state root {st.state_root.hex()[:16]}…")

    print("==> cluster status")
    testnet.status(root)
    elapsed = time.monotonic() - t0
    print(f"==> done: {sent} transactions sent, {elapsed:.1f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
