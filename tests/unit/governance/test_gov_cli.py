"""`chainnode gov`: operator mistakes get a clear error before anything is signed or sent."""

from __future__ import annotations

import pytest

from chainnode.cli import build_parser, main


@pytest.mark.parametrize("payload,msg", [("{oops", "not valid JSON"), ("[1]", "JSON object")])
def test_bad_payload_is_refused_before_sending(payload, msg, tmp_path):
    from chainnode.crypto.keyfile import save_private_key
    from chainnode.crypto.sm2 import PrivateKey

    key = tmp_path / "k.pem"
    save_private_key(key, PrivateKey.generate())
    with pytest.raises(SystemExit, match=msg):
        # port 9 (discard) would fail loudly if the command tried to send anything
        main(["gov", "propose", "set-param", "--payload", payload, "--key", str(key),
              "--url", "http://127.0.0.1:9"])


def test_parser_shapes():
    p = build_parser()
    a = p.parse_args(["gov", "vote", "3", "no", "--key", "k"])
    assert (a.id, a.choice) == (3, "no")
    with pytest.raises(SystemExit):
        p.parse_args(["gov", "vote", "3", "maybe"])
    with pytest.raises(SystemExit):
        p.parse_args(["gov", "list", "--status", "pending"])
    a = p.parse_args(["gov", "list", "--status", "expired"])
    assert a.status == "expired" and a.limit == 100


def test_propose_without_key_says_so():
    with pytest.raises(SystemExit, match="--key is required"):
        main(["gov", "propose", "set-param", "--payload", "{}", "--url", "http://127.0.0.1:9"])
