"""How `chainnode` prints: readable text for people, `--json` for scripts, one-line errors.

Read commands print a readable form by default and the RPC's JSON object with `--json`; write
commands print JSON. Every error is one line on stderr (`error: …`) with exit code 1; `--debug`
(anywhere on the command line) adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
import urllib.error
from collections.abc import Callable
from typing import Any

MAX_CELL = 66  # longer values are cut in tables (--json shows them whole)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


def _cell(v: Any, width: int = MAX_CELL) -> str:
    if v is None:
        text = "-"
    elif isinstance(v, bool):
        text = "yes" if v else "no"
    elif isinstance(v, str | int | float):
        text = str(v)
    else:
        text = json.dumps(v, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= width else text[:width - 1] + "…"


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Rows of dicts as aligned columns (every key that appears, in first-seen order)."""
    if not rows:
        return "(none)"
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()
    return "\n".join([line(columns), *(line(row) for row in cells)])


def readable(obj: Any) -> str:
    """Any JSON value for a person: a map as `key  value` lines, a list of maps as a table,
    a scalar as itself."""
    if isinstance(obj, dict):
        if not obj:
            return "(empty)"
        width = max(len(str(k)) for k in obj)
        out = []
        for k, v in obj.items():
            if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                out.append(f"{k}:")
                out.extend("  " + ln for ln in table(v).splitlines())
            else:
                out.append(f"{str(k).ljust(width)}  {_cell(v, 10_000)}")
        return "\n".join(out)
    if isinstance(obj, list) and obj and all(isinstance(x, dict) for x in obj):
        return table(obj)
    return _cell(obj, 10_000)


def status_text(st: dict) -> str:
    """`chainnode status` for a person."""
    idx = st.get("validator_index")
    role = f"validator {idx}" if idx is not None else "observer"
    head = [
        ("chain", f"{st['chain_id']}  (genesis {st['genesis_hash'][:16]}…)"),
        ("node", f"{st['node']}  ({role})"),
        ("height", f"{st['height']}  head {st['head_hash'][:16]}…  state root "
                   f"{st['state_root'][:16]}…"),
        ("view", f"{st['view']}  (leader: validator {st['view'] % max(1, len(st['validators']))}"
                 ")"),
        ("syncing", _cell(st["syncing"])),
        ("mempool", f"{st['mempool']} transactions"),
    ]
    out = [f"{k:<9} {v}" for k, v in head]
    vals = [{"#": i, "name": v["name"], "address": v["address"],
             "public key": v["public_key"][:16] + "…"} for i, v in enumerate(st["validators"])]
    out += ["", f"validators ({len(vals)})", *("  " + ln for ln in table(vals).splitlines())]
    peers = [{"role": p.get("role"), "remote": p.get("remote"),
              "public key": (p.get("public_key") or "")[:16] + "…"} for p in st["peers"]]
    out += ["", f"peers ({len(peers)})", *("  " + ln for ln in table(peers).splitlines())]
    return "\n".join(out)


def output(a: argparse.Namespace, obj: Any, text: Callable[[Any], str] = readable) -> None:
    """A read command's result: JSON with --json, else `text(obj)`."""
    if getattr(a, "json", False):
        print_json(obj)
    else:
        print(text(obj))


class Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error: `error: …` and where to read the options (exit 2,
    as argparse); subcommands' parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"error: {' '.join(message.split())} (see {self.prog} --help)\n")


def add_json_flag(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--json", action="store_true",
                    help="print the raw JSON object instead of the readable form")


def add_debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """--debug on the top-level parser and on every subcommand (so it may come anywhere)."""
    for p in _parsers(parser):
        p.add_argument("--debug", action="store_true",
                       default=argparse.SUPPRESS if p is not parser else False,
                       help="on an error, show the traceback too")


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield from _parsers(sub)


def error_line(exc: BaseException, url: str | None = None) -> str:
    """One line saying what went wrong, for stderr."""
    from chainnode.client import RpcError
    from chainnode.errors import ChainError

    if isinstance(exc, RpcError):
        text = f"{exc.code}: {exc.message}"
    elif isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        text = f"cannot reach the node at {url or '?'}: {exc.reason}"
    elif isinstance(exc, OSError | ValueError | RuntimeError | ChainError):
        text = str(exc) or type(exc).__name__
    else:
        text = (f"unexpected {type(exc).__name__}: {exc} (run again with --debug for the "
                "traceback)")
    return "error: " + " ".join(text.split())


def run(a: argparse.Namespace) -> int:
    """Run the chosen subcommand; errors become one line (and a traceback with --debug)."""
    try:
        return a.fn(a) or 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure is reported the same way
        if getattr(a, "debug", False):
            traceback.print_exc()
        print(error_line(exc, getattr(a, "url", None)), file=sys.stderr)
        return 1
