"""The `chainnode` command."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

from chainnode.cli_output import (
    Parser,
    add_debug_everywhere,
    add_json_flag,
    output,
    print_json,
    run,
    status_text,
)

DEFAULT_URL = os.environ.get("CHAINNODE_URL", "http://127.0.0.1:26601")


def _key(path: str | None):
    from chainnode.crypto.keyfile import load_private_key

    if not path:
        raise SystemExit("error: --key is required (an SM2 PEM key file)")
    pw = os.environ.get("CHAINNODE_KEY_PASSPHRASE")
    return load_private_key(path, pw.encode() if pw else None)


def json_object_arg(text: str, flag: str = "--args") -> dict:
    """A command-line JSON object (`--args`, `gov --payload`), or a clear exit."""
    try:
        v = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"error: {flag} is not valid JSON: {exc}") from exc
    if not isinstance(v, dict):
        raise SystemExit(f"error: {flag} must be a JSON object")
    return v


_print = print_json  # write commands print JSON; read commands go through `output`


def cmd_keygen(a) -> int:
    from chainnode.crypto.address import address_of
    from chainnode.crypto.keyfile import save_private_key
    from chainnode.crypto.sm2 import PrivateKey

    out = Path(a.out)
    if out.exists() and not a.force:
        raise SystemExit(f"error: {out} exists (use --force to overwrite)")
    pw = os.environ.get(a.passphrase_env) if a.passphrase_env else None
    if a.passphrase_env and not pw:
        raise SystemExit(f"error: --passphrase-env {a.passphrase_env}: that environment "
                         "variable is unset or empty; refusing to write an unencrypted key")
    k = PrivateKey.generate()
    save_private_key(out, k, pw.encode() if pw else None)
    _print({"file": str(out), "address": address_of(k.public_key),
            "public_key": k.public_key.hex(), "encrypted": bool(pw)})
    return 0


def cmd_testnet(a) -> int:
    from chainnode import testnet

    root = Path(a.dir)
    from chainnode import testnet_sides  # noqa: I001 - main + side chains + relayers
    if a.sidechains or testnet_sides.is_multi(root):
        return testnet_sides.cli(a, root)
    if a.action == "init":
        g = testnet.init(root, a.nodes, a.observers, a.chain_id, a.base_port,
                         accounts=a.accounts, params=_genesis_params(a.param))
        print(f"testnet {g.chain_id}: {a.nodes} validators, {a.observers} observers in {root}")
        for n in testnet.manifest(root)["nodes"]:
            print(f"  {n['name']}: rpc {n['rpc']} p2p {n['p2p']}")
        print(f"  admin key: {root / 'admin.key'}")
        print(f"next: chainnode testnet up --dir {root}")
    elif a.action == "up":
        testnet.up(root, a.timeout)
    elif a.action == "down":
        testnet.down(root)
    elif a.action in ("add-node", "remove-node"):
        from chainnode import testnet_join

        return testnet_join.cli(a, _print)
    else:
        sts = testnet.status(root, io.StringIO() if a.json else sys.stdout)
        if a.json:
            print_json(sts)
        return 0 if all(sts) else 1
    return 0


PINNED_HASHSEED = "0"


def _genesis_params(items: list[str]) -> dict:
    from chainnode.core.genesis import DEFAULT_PARAMS

    out: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or key not in DEFAULT_PARAMS:
            raise SystemExit(f"error: --param wants KEY=VALUE with KEY one of "
                             f"{', '.join(sorted(DEFAULT_PARAMS))}; got {item!r}")
        if type(DEFAULT_PARAMS[key]) is bool:
            if text not in ("true", "false"):
                raise SystemExit(f"error: --param {key} takes true or false")
            out[key] = text == "true"
        else:
            try:
                out[key] = int(text)
            except ValueError:
                raise SystemExit(f"error: --param {key} takes an integer") from None
    return out


def cmd_start(a) -> int:
    """Run a node with the hash seed pinned (DESIGN §6): re-exec once if it is not.

    CHAINNODE_UNPINNED_HASHSEED=1 keeps the inherited seed: the determinism tests use it to
    show that execution does not depend on the seed at all (pinning is defence in depth).
    """
    if (os.environ.get("PYTHONHASHSEED") != PINNED_HASHSEED
            and os.environ.get("CHAINNODE_UNPINNED_HASHSEED") != "1"):
        env = dict(os.environ, PYTHONHASHSEED=PINNED_HASHSEED)
        os.execve(sys.executable, [sys.executable, "-m", "chainnode", "start", "--home",
                                   a.home], env)
    from chainnode.node import run_node

    return run_node(a.home)  # EXIT_STORAGE_FAILURE (74) after a store or WAL write error


def _client(a, with_key: bool = True):
    from chainnode.client import Client

    return Client(a.url, _key(a.key) if with_key else None)


def cmd_status(a) -> int:
    output(a, _client(a, False).status(), status_text)
    return 0


def cmd_call(a) -> int:
    c = _client(a)
    res = c.call(a.contract, a.method, json_object_arg(a.args), wait=not a.no_wait, gas_limit=a.gas)
    _print(res)
    rc = res.get("receipt")
    return 0 if rc is None or rc["status"] == "ok" else 2


def cmd_deploy(a) -> int:
    c = _client(a)
    src = Path(a.file).read_text()
    res = c.deploy(a.name, src, json_object_arg(a.args), gas_limit=a.gas)
    _print(res)
    return 0 if res["receipt"]["status"] == "ok" else 2


def cmd_query(a) -> int:
    from chainnode.client import ProofError

    signed = bool(getattr(a, "key", None))
    c = _client(a, signed)
    if a.state:
        genesis = None
        if a.prove:
            from chainnode.core.genesis import Genesis

            if not a.genesis:
                raise SystemExit("error: --prove needs --genesis FILE (the trust root)")
            genesis = Genesis.load(a.genesis)
        key = json.loads(a.key_json) if a.key_json else a.method
        try:
            st = c.state(a.contract, key, genesis)
        except ProofError as exc:
            print(f"PROOF FAILED: {exc}", file=sys.stderr)
            return 3
        from chainnode.core.tx import _jsonable

        output(a, {"contract": st.contract, "key": key, "exists": st.exists,
                "value": _jsonable(st.value),
                "height": st.height, "verified": genesis is not None,
                "state_root": st.state_root.hex()})
        return 0
    output(a, c.query(a.contract, a.method, json_object_arg(a.args), signed=signed))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="chainnode", description="Permissioned PBFT chain node")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND",
                           help="chainnode COMMAND --help shows the command's own options")

    k = sub.add_parser("keygen", help="create an SM2 key file")
    k.add_argument("--out", required=True, help="where to write the PEM key file (0600)")
    k.add_argument("--passphrase-env", help="encrypt with the passphrase in this env variable")
    k.add_argument("--force", action="store_true", help="overwrite an existing file")
    k.set_defaults(fn=cmd_keygen)

    t = sub.add_parser("testnet", help="local multi-node testnet")
    t.add_argument("action", choices=["init", "up", "down", "status", "add-node", "remove-node"],
                   help="init: write keys, genesis and configs; up: start the nodes in the "
                        "background; down: stop them; status: one line per node; add-node: "
                        "join a new node (observer, or --validator); remove-node: vote a "
                        "validator out")
    t.add_argument("--dir", required=True, help="the testnet's directory")
    t.add_argument("--nodes", type=int, default=4, help="validators to create (init)")
    t.add_argument("--observers", type=int, default=0,
                   help="non-voting follower nodes to create (init)")
    t.add_argument("--accounts", type=int, default=0, help="extra member accounts to create")
    t.add_argument("--chain-id", default="chainnode-local", help="the chain id (init)")
    t.add_argument("--base-port", type=int, default=26600,
                   help="node i listens on base+2i (p2p) and base+2i+1 (RPC) (init)")
    t.add_argument("--timeout", type=float, default=60.0,
                   help="seconds `up` waits for every RPC to answer")
    t.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="genesis parameter for init, e.g. view_timeout_ms=1000 (repeatable)")
    t.add_argument("--sidechains", type=int, default=0,
                   help="init: also make this many edge chains, anchored on the main chain")
    t.add_argument("--side-nodes", type=int, default=1, help="init: validators per edge chain")
    t.add_argument("--name", help="add-node: the new node's name (default nodeN); "
                                  "remove-node: the validator to remove")
    t.add_argument("--validator", action="store_true",
                   help="add-node: also vote the node in as a validator with the testnet's "
                        "governor keys")
    t.add_argument("--force", action="store_true",
                   help="remove-node: remove even if it lowers the fault tolerance")
    t.add_argument("--stop", action="store_true", help="remove-node: stop the node afterwards")
    add_json_flag(t)  # status: the nodes' /status objects (null for a node that is down)
    t.set_defaults(fn=cmd_testnet)

    s = sub.add_parser("start", help="run a node in the foreground")
    s.add_argument("--home", required=True,
                   help="the node's home directory (node.json, node.key, genesis.json)")
    s.set_defaults(fn=cmd_start)

    def client_args(sp, key=True):
        sp.add_argument("--url", default=DEFAULT_URL,
                        help="the node's RPC URL (default $CHAINNODE_URL or %(default)s)")
        if key:
            sp.add_argument("--key", help="SM2 PEM key file of the sender")

    st = sub.add_parser("status", help="node status")
    client_args(st, key=False)
    add_json_flag(st)
    st.set_defaults(fn=cmd_status)

    c = sub.add_parser("call", help="submit a contract or system call")
    c.add_argument("contract", help="contract name, or sys.* for a system contract")
    c.add_argument("method", help="the method to call")
    c.add_argument("--args", default="{}", help="the method's arguments (JSON object)")
    c.add_argument("--gas", type=int, default=5_000_000, help="gas limit of the transaction")
    c.add_argument("--no-wait", action="store_true",
                   help="return once admitted instead of waiting for the commit")
    client_args(c)
    c.set_defaults(fn=cmd_call)

    d = sub.add_parser("deploy", help="deploy a contract")
    d.add_argument("name", help="the contract's name on chain")
    d.add_argument("file", help="the contract's source file (restricted Python)")
    d.add_argument("--args", default="{}", help="constructor arguments (JSON object)")
    d.add_argument("--gas", type=int, default=20_000_000, help="gas limit of the deployment")
    client_args(d)
    d.set_defaults(fn=cmd_deploy)

    q = sub.add_parser("query", help="read-only call, or a state value with --state")
    q.add_argument("contract", help="contract name (with --state: whose state to read)")
    q.add_argument("method", help="view method, or the state key with --state")
    q.add_argument("--args", default="{}", help="the view's arguments (JSON object)")
    q.add_argument("--state", action="store_true", help="read a raw state value")
    q.add_argument("--key-json", help="state key as JSON (for composite keys)")
    q.add_argument("--prove", action="store_true", help="verify the SMT proof and certificate")
    q.add_argument("--genesis", help="genesis file: the trust root for --prove")
    q.add_argument("--key", help="SM2 PEM key file: sign the query (domain 'query') so the "
                                 "view runs with ctx.sender = this key's address; without it "
                                 "the query is anonymous (ctx.sender == '')")
    client_args(q, key=False)
    add_json_flag(q)
    q.set_defaults(fn=cmd_query)

    from chainnode import cli_fl  # noqa: I001 - `chainnode fl run|verify`
    cli_fl.add_parser(sub, DEFAULT_URL, _key)
    from chainnode import cli_gov

    cli_gov.add_parser(sub, client_args, _client, _print)
    from chainnode import cli_network  # noqa: I001 - `chainnode network init`
    cli_network.add_parser(sub)
    from chainnode import cli_relay  # noqa: I001 - `chainnode relay`
    cli_relay.add_parser(sub)
    from chainnode import cli_node

    cli_node.add_parser(sub, _print)
    add_debug_everywhere(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse and run; an error is one line on stderr and exit code 1 (--debug: traceback)."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
