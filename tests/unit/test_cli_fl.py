"""`chainnode fl`: registered in the CLI, every option documented, bad input refused early."""

from __future__ import annotations

import argparse

import pytest

from chainnode.cli import build_parser, main


def _fl_commands() -> dict[str, argparse.ArgumentParser]:
    root = build_parser()
    sub = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    fl = sub.choices["fl"]
    fsub = next(a for a in fl._actions if isinstance(a, argparse._SubParsersAction))
    return dict(fsub.choices)


def test_run_and_verify_exist_and_every_option_has_help():
    cmds = _fl_commands()
    assert set(cmds) == {"run", "verify"}
    for name, p in cmds.items():
        opts = [a for a in p._actions if a.option_strings and a.dest != "help"]
        assert opts, name
        for a in opts:
            assert a.help, f"fl {name} {a.option_strings[0]} has no help text"
    run = cmds["run"].parse_args(["--key", "k.pem"])
    assert (run.sites, run.rounds, run.noise, run.topk) == (8, 20, 1.0, 8)


def test_bad_counts_are_refused_before_any_key_is_read(capsys):
    with pytest.raises(SystemExit, match="--sites and --rounds"):
        main(["fl", "run", "--key", "/nonexistent.pem", "--sites", "0"])
