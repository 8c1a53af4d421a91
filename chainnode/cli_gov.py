"""`chainnode gov propose|vote|tally|list|show`: governance from the command line.

propose, vote and tally send signed sys.governance transactions (like `chainnode call`); list and show
read GET /governance/proposals. Payloads are JSON objects, e.g.
  chainnode gov propose set-param --payload '{"name": "view_timeout_ms", "value": 2000}'
"""

from __future__ import annotations

import argparse
import urllib.parse
from collections.abc import Callable

from chainnode.cli import json_object_arg
from chainnode.cli_output import add_json_flag, output

GOVERNANCE = "sys.governance"  # kept literal: the CLI parser stays light to import


def _done(res: dict, show: Callable[[object], None]) -> int:
    show(res)
    rc = res.get("receipt")
    return 0 if rc is None or rc["status"] == "ok" else 2


def add_parser(sub, client_args: Callable, make_client: Callable,
               show: Callable[[object], None]) -> None:
    g = sub.add_parser("gov", help="governance: propose, vote, tally, list, show")
    gs = g.add_subparsers(dest="gov_cmd", required=True, metavar="ACTION",
                          help="chainnode gov ACTION --help shows the action's own options")

    def propose(a: argparse.Namespace) -> int:
        payload = json_object_arg(a.payload, "--payload")  # before the key: a typo costs no passphrase prompt
        c = make_client(a)
        return _done(c.call(GOVERNANCE, "propose", {"kind": a.kind, "payload": payload}), show)

    def vote(a: argparse.Namespace) -> int:
        c = make_client(a)
        return _done(c.call(GOVERNANCE, "vote", {"id": a.id, "choice": a.choice}), show)

    def tally(a: argparse.Namespace) -> int:
        c = make_client(a)
        return _done(c.call(GOVERNANCE, "tally", {"id": a.id}), show)

    def list_(a: argparse.Namespace) -> int:
        q = {"limit": str(a.limit)}
        if a.status:
            q["status"] = a.status
        output(a, make_client(a, False).get("/governance/proposals?"
                                            + urllib.parse.urlencode(q)))
        return 0

    def show_(a: argparse.Namespace) -> int:
        output(a, make_client(a, False).get(f"/governance/proposals/{a.id}"))
        return 0

    p = gs.add_parser("propose", help="make a proposal (your yes vote included)")
    p.add_argument("kind", help="add-validator | remove-validator | set-param | set-committee")
    p.add_argument("--payload", default="{}", help="the kind's payload as a JSON object")
    client_args(p)
    p.set_defaults(fn=propose)

    v = gs.add_parser("vote", help="vote yes or no (changeable until decided)")
    v.add_argument("id", type=int, help="the proposal's id")
    v.add_argument("choice", choices=["yes", "no"], help="your vote")
    client_args(v)
    v.set_defaults(fn=vote)

    t = gs.add_parser("tally", help="re-decide an open proposal under the current committee")
    t.add_argument("id", type=int, help="the proposal's id")
    client_args(t)
    t.set_defaults(fn=tally)

    lst = gs.add_parser("list", help="proposals, newest first")
    lst.add_argument("--status", choices=["open", "passed", "failed", "expired"],
                     help="only proposals with this status")
    lst.add_argument("--limit", type=int, default=100, help="at most this many (1..100)")
    client_args(lst, key=False)
    add_json_flag(lst)
    lst.set_defaults(fn=list_)

    s = gs.add_parser("show", help="one proposal with votes and tally")
    s.add_argument("id", type=int, help="the proposal's id")
    client_args(s, key=False)
    add_json_flag(s)
    s.set_defaults(fn=show_)
