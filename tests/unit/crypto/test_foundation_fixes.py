"""Failing tests for bugs found in the foundation modules (uncommitted until the fixes land).

Named without the test_ prefix so the shared suite stays green; run it explicitly with
`pytest tests/unit/crypto/pending_fixes_foundation.py`, and rename it to test_*.py once fixed.

Each test states the expected behaviour; all of them fail against the current sources.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization as cser
from cryptography.hazmat.primitives.asymmetric import ec as cec
from cryptography.hazmat.primitives.asymmetric import ed25519

from chainnode import codec
from chainnode.core.block import Receipt
from chainnode.core.genesis import Genesis, GenesisError
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto.keyfile import (
    KeyFileError,
    load_private_key,
    loads_private_key,
    save_private_key,
)
from chainnode.crypto.sm2 import GmsslBackend, PrivateKey, TongsuoBackend
from chainnode.errors import TX_MALFORMED, ChainError

TONGSUO, GMSSL = TongsuoBackend(), GmsslBackend()
D04 = 11  # the smallest private key whose public key starts with byte 0x04


# -- 1. GmsslBackend mishandles public keys whose X coordinate starts with 0x04 -------------

def test_gmssl_backend_handles_keys_starting_with_04():
    pub = TONGSUO.public_from_private(D04)
    assert pub[0] == 0x04
    msg = b"hello"
    assert GMSSL.verify(pub, msg, TONGSUO.sign(D04, pub, msg))  # fails today
    assert TONGSUO.verify(pub, msg, GMSSL.sign(D04, pub, msg))  # fails today


# -- 2. save_private_key keeps the old mode of an existing file -------------------------------

def test_save_over_existing_world_readable_file_is_0600(tmp_path):
    path = tmp_path / "node.key"
    path.write_text("old")
    os.chmod(path, 0o644)
    save_private_key(path, PrivateKey(12345))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # stays 0o644 today
    assert load_private_key(path).secret == 12345


# -- 3. a non-SM2 key file escapes as tongsuopy's UnsupportedAlgorithm -------------------------

@pytest.mark.parametrize("make", [
    lambda: cec.generate_private_key(cec.SECP256R1()),
    lambda: ed25519.Ed25519PrivateKey.generate(),
], ids=["p256", "ed25519"])
def test_non_sm2_key_file_is_a_key_file_error(make):
    pem = make().private_bytes(cser.Encoding.PEM, cser.PrivateFormat.PKCS8, cser.NoEncryption())
    with pytest.raises(KeyFileError):
        loads_private_key(pem)


# -- 4. big integers: negative powers of two get a redundant sign byte --------------------------

@pytest.mark.parametrize("k", [71, 127, 511])
def test_negative_power_of_two_bigint_is_minimal(k):
    v = -(2**k)
    width = (k + 1) // 8  # bytes of two's complement actually needed
    minimal = v.to_bytes(width, "big", signed=True)
    data = codec.encode(v)  # -(2**511) raises CODEC_INT_RANGE today
    assert data.endswith(minimal) and len(data) - len(minimal) <= 3
    assert codec.decode(data) == v


def test_minimal_negative_bigint_form_is_accepted():
    data = b"\xc7\x09\x01\x80" + b"\x00" * 8  # -(2**71), 9-byte minimal two's complement
    assert codec.decode(data) == -(2**71)  # CODEC_NONCANONICAL today


# -- 5. codec.encode leaks UnicodeEncodeError for lone surrogates ------------------------------

@pytest.mark.parametrize("value", [json.loads('"\\ud800"'), {json.loads('"\\udfff"'): 1}])
def test_lone_surrogate_is_a_codec_error(value):
    with pytest.raises(codec.CodecError):
        codec.encode(value)


# -- 6. tx name checks accept a trailing newline ($ matches before a final "\n") ---------------

KEY = PrivateKey(987654321)
TX = build_tx(KEY, "grid-test", "call", "energy", "bid", {}, expires_at=5, nonce=b"\x01" * 16)


@pytest.mark.parametrize("i,value", [(5, "energy\n"), (6, "bid\n")], ids=["contract", "method"])
def test_tx_names_with_trailing_newline_rejected(i, value):
    w = TX.to_wire()
    w[i] = value
    with pytest.raises(ChainError) as ei:
        Transaction.decode(codec.encode(w))
    assert ei.value.code == TX_MALFORMED


# -- 7. a chain id with NUL passes from_wire / genesis but cannot be signed or verified --------

def test_tx_chain_id_with_nul_is_malformed():
    w = TX.to_wire()
    w[0] = "grid\x00test"
    try:
        tx = Transaction.decode(codec.encode(w))
    except ChainError as exc:
        assert exc.code == TX_MALFORMED
        return
    assert tx.verify_signature() is False  # raises ValueError today


def test_genesis_chain_id_with_nul_rejected():
    doc = {"chain_id": "grid\x00test",
           "validators": [{"name": "v", "public_key": KEY.public_key.hex()}]}
    with pytest.raises(GenesisError):
        Genesis.from_json(doc)


# -- 8. Receipt.from_wire does not validate, so decoding is not canonical ----------------------

def test_receipt_decode_is_canonical_or_rejects():
    w = [b"\x11" * 32, 0, 10, None, [["c", "e", {}, "extra"]], "", ""]
    data = codec.encode(w)
    try:
        r = Receipt.decode(data)
    except ValueError:
        return
    assert r.encode() == data  # the 4th event element is silently dropped today


@pytest.mark.parametrize("w", [
    [b"\x11" * 32, 0, 10, None, 5, "", ""],
    [b"\x11" * 32, 0, 10, None, [{"a": 1}], "", ""],
    [b"\x11" * 32, 0, 10, None, [[1]], "", ""],
], ids=["events-int", "event-map", "event-short"])
def test_receipt_decode_raises_value_error_for_bad_events(w):
    with pytest.raises(ValueError):
        Receipt.decode(codec.encode(w))  # TypeError / KeyError / IndexError today
