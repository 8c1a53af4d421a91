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
