"""The `chainnode` command: keygen, testnet init, and clear errors (exit code != 0, no traceback)
for operator mistakes."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from chainnode.cli import main
from chainnode.config import NodeConfig
from chainnode.core.genesis import Genesis
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import KeyFileError, load_private_key


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real command in a child process: exit code and stderr as an operator sees them."""
    exe = Path(sys.executable).with_name("chainnode")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "chainnode"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}"


# -- keygen --------------------------------------------------------------------------------

def test_keygen_writes_a_loadable_private_key(tmp_path, capsys):
    out = tmp_path / "k.pem"
    assert main(["keygen", "--out", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    key = load_private_key(out)
    assert info["public_key"] == key.public_key.hex()
    assert info["address"] == address_of(key.public_key)
    assert info["encrypted"] is False
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    # a signature made with the loaded key verifies under the printed public key
    from chainnode.crypto.sm2 import PublicKey

    assert PublicKey.from_hex(info["public_key"]).verify(key.sign(b"meter 42"), b"meter 42")


def test_keygen_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "k.pem"
    main(["keygen", "--out", str(out)])
    first = json.loads(capsys.readouterr().out)["public_key"]
    with pytest.raises(SystemExit) as ei:
        main(["keygen", "--out", str(out)])
    assert "exists" in str(ei.value.code) and "--force" in str(ei.value.code)
    assert load_private_key(out).public_key.hex() == first
    assert main(["keygen", "--out", str(out), "--force"]) == 0
    assert load_private_key(out).public_key.hex() != first


def test_keygen_encrypts_with_passphrase_env(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("METER_KEY_PW", "correct horse battery")
    out = tmp_path / "enc.pem"
    assert main(["keygen", "--out", str(out), "--passphrase-env", "METER_KEY_PW"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["encrypted"] is True
    assert out.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(KeyFileError, match="passphrase is required"):
        load_private_key(out)
    with pytest.raises(KeyFileError):
        load_private_key(out, b"wrong")
    assert load_private_key(out, b"correct horse battery").public_key.hex() == \
        info["public_key"]


def test_keygen_with_an_unset_passphrase_variable_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_PW_VAR", raising=False)
    out = tmp_path / "k.pem"
    with pytest.raises(SystemExit) as ei:
        main(["keygen", "--out", str(out), "--passphrase-env", "NO_SUCH_PW_VAR"])
    assert "NO_SUCH_PW_VAR" in str(ei.value.code)
    assert not out.exists()


def test_encrypted_key_is_usable_by_the_cli_with_the_passphrase(tmp_path):
    out = tmp_path / "enc.pem"
    r = run("keygen", "--out", str(out), "--passphrase-env", "PW", env={"PW": "s3cret"})
    assert r.returncode == 0, r.stderr
    url = closed_port_url()
    # without the passphrase: a clear key error
    r = run("call", "sys.members", "register", "--key", str(out), "--url", url,
            env={"CHAINNODE_KEY_PASSPHRASE": ""})
    assert r.returncode == 1 and "passphrase is required" in r.stderr
    assert "Traceback" not in r.stderr
    # with it: the key loads and the command gets as far as the (absent) node
    r = run("call", "sys.members", "register", "--key", str(out), "--url", url,
            env={"CHAINNODE_KEY_PASSPHRASE": "s3cret"})
    assert r.returncode == 1 and "cannot reach the node" in r.stderr
    assert "Traceback" not in r.stderr


# -- testnet init --------------------------------------------------------------------------

def test_testnet_init_writes_genesis_configs_and_keys(tmp_path, capsys):
    root = tmp_path / "tn"
    assert main(["testnet", "init", "--nodes", "4", "--observers", "1", "--accounts", "2",
                 "--dir", str(root), "--base-port", "30100", "--chain-id", "grid-east"]) == 0
    printed = capsys.readouterr().out
    assert "testnet grid-east: 4 validators, 1 observers" in printed
    assert "chainnode testnet up --dir" in printed

    g = Genesis.load(root / "genesis.json")
    assert g.chain_id == "grid-east"
    assert [v.name for v in g.validators] == ["node0", "node1", "node2", "node3"]
    manifest = json.loads((root / "testnet.json").read_text())
    assert manifest["chain_id"] == "grid-east" and manifest["validators"] == 4
    assert [n["name"] for n in manifest["nodes"]] == [f"node{i}" for i in range(5)]

    members = {m.address: m for m in g.members}
    admin = load_private_key(root / "admin.key")
    assert members[address_of(admin.public_key)].roles == ("admin", "operator")
    for i in range(2):
        acct = load_private_key(root / f"account{i}.key")
        assert members[address_of(acct.public_key)].roles == ("member",)

    for i in range(5):
        home = root / f"node{i}"
        cfg = NodeConfig.load(home)
        assert cfg.name == f"node{i}" and cfg.chain_id == "grid-east"
        assert cfg.p2p_port == 30100 + 2 * i and cfg.rpc_port == 30100 + 2 * i + 1
        assert manifest["nodes"][i]["rpc"] == f"http://127.0.0.1:{cfg.rpc_port}"
        assert cfg.role == ("validator" if i < 4 else "observer")
        assert sorted(cfg.peers) == sorted(f"127.0.0.1:{30100 + 2 * j}"
                                           for j in range(4) if j != i)
        assert Genesis.load(cfg.path(cfg.genesis_file)).hash() == g.hash()
        key = load_private_key(cfg.path(cfg.key_file))
        assert stat.S_IMODE(cfg.path(cfg.key_file).stat().st_mode) == 0o600
        if i < 4:
            assert g.validators[i].public_key == key.public_key.raw
        else:
            assert key.public_key.raw not in {v.public_key for v in g.validators}
        for f in (cfg.tls_ca, cfg.tls_cert, cfg.tls_key):
            assert f and cfg.path(f).is_file()
    # node keys are distinct
    assert len({load_private_key(root / f"node{i}" / "node.key").public_key.raw
                for i in range(5)}) == 5


def test_testnet_init_refuses_an_existing_testnet_and_bad_counts(tmp_path, capsys):
    root = tmp_path / "tn"
    assert main(["testnet", "init", "--nodes", "1", "--dir", str(root)]) == 0
    genesis_before = (root / "genesis.json").read_text()
    capsys.readouterr()
    assert main(["testnet", "init", "--nodes", "1", "--dir", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "already holds a testnet" in err
    assert (root / "genesis.json").read_text() == genesis_before
    assert main(["testnet", "init", "--nodes", "0", "--dir", str(tmp_path / "t0")]) == 1
    assert "at least 1" in capsys.readouterr().err


# -- operator errors -----------------------------------------------------------------------

@pytest.mark.parametrize("cmd", [
    ["call", "sys.members", "register"],
    ["deploy", "meter", "{src}"],
    ["query", "meter", "reading"],
])
@pytest.mark.parametrize("bad,why", [
    ("{bad json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
])
def test_bad_args_json_is_a_clear_error(tmp_path, capsys, cmd, bad, why):
    key = tmp_path / "k.pem"
    main(["keygen", "--out", str(key)])
    src = tmp_path / "meter.py"
    src.write_text("def reading():\n    return 1\n")
    capsys.readouterr()
    argv = [a.replace("{src}", str(src)) for a in cmd] + ["--args", bad, "--url",
                                                          closed_port_url()]
    if cmd[0] != "query":
        argv += ["--key", str(key)]
    with pytest.raises(SystemExit) as ei:
        main(argv)
    msg = str(ei.value.code)
    assert msg.startswith("error: --args") and why in msg


def test_bad_args_exit_code_and_stderr_from_the_real_command(tmp_path):
    key = tmp_path / "k.pem"
    assert run("keygen", "--out", str(key)).returncode == 0
    r = run("call", "sys.members", "register", "--args", "{'address': 1}", "--key", str(key),
            "--url", closed_port_url())
    assert r.returncode != 0
    assert "error: --args is not valid JSON" in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""


def test_unreachable_node_is_a_clear_error(capsys):
    url = closed_port_url()
    assert main(["status", "--url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the node at " + url)


def test_start_without_a_node_home_is_a_clear_error(tmp_path, capsys):
    assert main(["start", "--home", str(tmp_path / "nowhere")]) == 1
    assert "no node.json" in capsys.readouterr().err


def test_query_prove_needs_a_genesis(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["query", "sys.members", "x", "--state", "--prove", "--url", closed_port_url()])
    assert "--genesis" in str(ei.value.code)


def test_missing_key_and_unknown_command(tmp_path, capsys):
    with pytest.raises(SystemExit) as ei:
        main(["call", "sys.members", "register", "--url", closed_port_url()])
    assert "--key is required" in str(ei.value.code)
    with pytest.raises(SystemExit) as ei:
        main(["frobnicate"])
    assert ei.value.code == 2  # argparse usage error
    assert "invalid choice" in capsys.readouterr().err


def test_testnet_init_param_sets_genesis_params_and_rejects_unknown(tmp_path, capsys):
    import json as _json

    from chainnode.cli import main as _main

    d = tmp_path / "tn"
    assert _main(["testnet", "init", "--nodes", "1", "--dir", str(d), "--param",
                  "view_timeout_ms=1000", "--param", "empty_blocks=true"]) == 0
    params = _json.loads((d / "genesis.json").read_text())["params"]
    assert params == {"empty_blocks": True, "view_timeout_ms": 1000}
    for bad in ("nonsense=1", "view_timeout_ms=soon", "empty_blocks=maybe", "view_timeout_ms"):
        with pytest.raises(SystemExit) as ei:
            _main(["testnet", "init", "--nodes", "1", "--dir", str(tmp_path / "x"),
                   "--param", bad])
        assert "--param" in str(ei.value)
    assert not (tmp_path / "x" / "genesis.json").exists()


# -- help, errors and output ---------------------------------------------------------------

def _leaf_parsers(parser, path=()):
    """(command path, parser) for every parser in the tree, the top one included."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _leaf_parsers(sub, (*path, name))


def test_every_option_and_argument_of_every_command_has_help():
    """Walks the whole parser tree, so options that commands get later are held to it too."""
    import argparse

    from chainnode.cli import build_parser

    missing = []
    for path, parser in _leaf_parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if not choice.help:
                        missing.append(f"chainnode {' '.join(path)} {choice.dest}")
            if not action.help or action.help == argparse.SUPPRESS:
                name = "/".join(action.option_strings) or action.dest
                missing.append(f"chainnode {' '.join(path)} {name}")
    assert not missing, f"options without help text: {missing}"


def test_each_command_help_shows_its_own_options(capsys):
    from chainnode.cli import build_parser

    tree = list(_leaf_parsers(build_parser()))
    assert len(tree) >= 14
    for path, parser in tree:
        text = parser.format_help()
        for action in parser._actions:
            for opt in action.option_strings:
                assert opt in text, (path, opt)
    # as an operator sees it: `status --help` lists status's options, not testnet's
    r = run("status", "--help")
    assert r.returncode == 0 and "--json" in r.stdout and "--url" in r.stdout
    assert "--nodes" not in r.stdout
    r = run("gov", "vote", "--help")
    assert r.returncode == 0 and "your vote" in r.stdout and "--key" in r.stdout


READ_COMMANDS = [["status"], ["query", "c", "m"], ["gov", "list"], ["gov", "show", "1"],
                 ["testnet", "status", "--dir", "d"]]


@pytest.mark.parametrize("cmd", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_read_commands_take_json(cmd):
    from chainnode.cli import build_parser

    p = build_parser()
    assert p.parse_args([*cmd, "--json"]).json is True
    assert p.parse_args(cmd).json is False


def test_an_unexpected_error_is_one_line_and_debug_adds_the_traceback(monkeypatch, capsys):
    from chainnode.client import Client

    def broken(self):
        raise KeyError("height")

    monkeypatch.setattr(Client, "status", broken)
    assert main(["status", "--url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: unexpected KeyError: 'height'")
    assert "--debug" in err
    assert main(["status", "--url", "http://127.0.0.1:9", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "KeyError" in err
    assert err.splitlines()[-1].startswith("error: unexpected KeyError")
    assert main(["--debug", "status", "--url", "http://127.0.0.1:9"]) == 1  # either place
    assert "Traceback" in capsys.readouterr().err


def test_real_command_errors_are_one_line_and_debug_shows_where(tmp_path):
    url = closed_port_url()
    r = run("status", "--url", url)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: cannot reach the node")
    r = run("status", "--url", url, "--debug")
    assert r.returncode == 1 and "Traceback" in r.stderr and "URLError" in r.stderr
    r = run("testnet", "status", "--dir", str(tmp_path / "none"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error:")
    # a usage mistake: one line too, naming the command whose --help to read (exit 2)
    r = run("testnet", "init", "--nodes", "four", "--dir", str(tmp_path / "tn"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr == ("error: argument --nodes: invalid int value: 'four' "
                        "(see chainnode testnet --help)\n")


STATUS = {
    "chain_id": "grid-main", "node": "node1", "height": 42, "head_hash": "ab" * 32,
    "state_root": "cd" * 32, "view": 5, "validator_index": 1, "syncing": False, "mempool": 3,
    "genesis_hash": "ef" * 32,
    "validators": [{"name": f"node{i}", "public_key": f"{i:02x}" * 64,
                    "address": f"{i:02x}" * 20} for i in range(4)],
    "peers": [{"public_key": "11" * 64, "role": "validator", "remote": "127.0.0.1:26600"},
              {"public_key": "22" * 64, "role": "observer", "remote": None}],
}


def test_status_prints_a_readable_table_and_json_on_request(monkeypatch, capsys):
    from chainnode.client import Client

    monkeypatch.setattr(Client, "status", lambda self: STATUS)
    assert main(["status", "--url", "http://127.0.0.1:9"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["chain", "grid-main"]
    assert any(ln.split()[:2] == ["height", "42"] for ln in lines)
    assert "validator 1" in out and "leader: validator 1" in out  # view 5 of 4 validators
    assert "validators (4)" in out and "peers (2)" in out
    row = next(ln for ln in lines if "node3" in ln).split()
    assert row[:3] == ["3", "node3", "03" * 20]
    assert "observer" in out and "-" in next(ln for ln in lines if "observer" in ln).split()
    assert main(["status", "--json", "--url", "http://127.0.0.1:9"]) == 0
    assert json.loads(capsys.readouterr().out) == STATUS


def test_query_prints_readable_values_and_json_on_request(monkeypatch, capsys):
    from chainnode.client import Client

    value = {"district": "0101", "loss_pct": 4, "alarms": [{"meter": "m-7", "kind": "cut"}]}
    monkeypatch.setattr(Client, "query", lambda self, *a, **k: value)
    assert main(["query", "district", "summary", "--url", "http://127.0.0.1:9"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["district", "0101"] and out[1].split() == ["loss_pct", "4"]
    assert out[2] == "alarms:" and out[3].split() == ["meter", "kind"]
    assert out[4].split() == ["m-7", "cut"]
    assert main(["query", "district", "summary", "--json", "--url", "http://127.0.0.1:9"]) == 0
    assert json.loads(capsys.readouterr().out) == value
