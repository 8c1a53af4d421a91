"""Genesis documents: JSON round trips, hashing, and every validation error."""

from __future__ import annotations

import copy
import json

import pytest

from chainnode.core.genesis import (
    CRYPTO_SUITE,
    DEFAULT_PARAMS,
    ROLES,
    Genesis,
    GenesisError,
    Validator,
    validators_hash,
)
from chainnode.crypto.address import address_of
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import N, PrivateKey

KEYS = [PrivateKey(int.from_bytes(sm3(b"chainnode-test-key/genesis/%d" % i), "big") % (N - 2) + 1)
        for i in range(5)]
MEMBER = address_of(KEYS[4].public_key)


def doc() -> dict:
    return {
        "chain_id": "grid-test",
        "crypto": CRYPTO_SUITE,
        "timestamp_ms": 1_700_000_000_000,
        "validators": [
            {"name": f"node{i}", "public_key": k.public_key.hex(),
             "address": address_of(k.public_key)}
            for i, k in enumerate(KEYS[:4])
        ],
        "members": [
            {"address": MEMBER, "roles": ["admin", "operator"], "name": "ops"},
            {"address": address_of(KEYS[0].public_key), "roles": ["relayer"]},
        ],
        "params": {"max_block_txs": 500, "empty_blocks": True},
    }


G = Genesis.from_json(doc())


def bad(d: dict, match: str | None = None) -> None:
    with pytest.raises(GenesisError, match=match):
        Genesis.from_json(d)


# ---------------------------------------------------------------------------- parsing

def test_parse():
    assert G.chain_id == "grid-test" and G.timestamp_ms == 1_700_000_000_000
    assert [v.name for v in G.validators] == ["node0", "node1", "node2", "node3"]
    assert G.validators[1].public_key == KEYS[1].public_key.raw
    assert G.validators[1].address == address_of(KEYS[1].public_key)
    assert G.members[0].roles == ("admin", "operator") and G.members[1].name == ""
    assert G.crypto == CRYPTO_SUITE


def test_params_defaults_and_overrides():
    assert G.param("max_block_txs") == 500
    assert G.param("empty_blocks") is True
    assert G.param("view_timeout_ms") == DEFAULT_PARAMS["view_timeout_ms"]
    with pytest.raises(KeyError):
        G.param("no_such_param")


def test_minimal_document():
    g = Genesis.from_json({"chain_id": "c",
                           "validators": [{"name": "v", "public_key": KEYS[0].public_key.hex()}]})
    assert g.members == () and g.params == {} and g.timestamp_ms == 0


def test_04_prefixed_validator_key_accepted():
    d = doc()
    d["validators"][0]["public_key"] = "04" + d["validators"][0]["public_key"]
    assert Genesis.from_json(d).validators[0].public_key == KEYS[0].public_key.raw


# ---------------------------------------------------------------------------- round trips

def test_json_round_trip():
    j = G.to_json()
    assert Genesis.from_json(j) == G
    assert Genesis.from_json(json.loads(json.dumps(j))) == G
    assert Genesis.from_json(j).hash() == G.hash()
    assert j["validators"][0]["address"] == address_of(KEYS[0].public_key)
    assert j["params"] == {"empty_blocks": True, "max_block_txs": 500}


def test_save_load_round_trip(tmp_path):
    path = tmp_path / "genesis.json"
    G.save(path)
    loaded = Genesis.load(path)
    assert loaded == G and loaded.hash() == G.hash()
    assert json.loads(path.read_text())["chain_id"] == "grid-test"


def test_hash_covers_every_part():
    base = G.hash()
    assert len(base) == 32
    variants = []
    for path, value in [
        (("chain_id",), "grid-prod"), (("timestamp_ms",), 1), (("params", "max_block_txs"), 501),
        (("validators", 0, "name"), "n0"), (("members", 0, "roles"), ["admin"]),
        (("members", 1, "name"), "x"),
    ]:
        d = doc()
        target = d
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
        variants.append(Genesis.from_json(d).hash())
    d = doc()
    d["validators"].reverse()
    variants.append(Genesis.from_json(d).hash())
    d = doc()
    d["params"] = {}
    variants.append(Genesis.from_json(d).hash())
    assert base not in variants and len(set(variants)) == len(variants)


def test_param_order_does_not_matter():
    d = doc()
    d["params"] = dict(reversed(list(d["params"].items())))
    assert Genesis.from_json(d).hash() == G.hash()


def test_validators_hash():
    vs = G.validators
    assert validators_hash(vs) == validators_hash(list(vs))
    assert validators_hash(vs) != validators_hash(vs[::-1])
    assert validators_hash(vs) != validators_hash(vs[:3])
    renamed = (Validator("x", vs[0].public_key),) + vs[1:]
    assert validators_hash(vs) != validators_hash(renamed)


# ---------------------------------------------------------------------------- errors

@pytest.mark.parametrize("chain_id", ["", "c" * 65, 5, None, ["grid"]])
def test_bad_chain_id(chain_id):
    d = doc()
    d["chain_id"] = chain_id
    bad(d, "chain_id")


def test_missing_chain_id_or_validators():
    for key in ("chain_id", "validators"):
        d = doc()
        del d[key]
        bad(d)


def test_unsupported_crypto_suite():
    d = doc()
    d["crypto"] = "secp256k1-keccak"
    bad(d, "crypto")


@pytest.mark.parametrize("roles", [["root"], ["admin", "Admin"], "admin", [""], [None]])
def test_unknown_role(roles):
    d = doc()
    d["members"][0]["roles"] = roles
    bad(d, "role")


def test_all_known_roles_accepted():
    d = doc()
    d["members"][0]["roles"] = list(ROLES)
    assert Genesis.from_json(d).members[0].roles == ROLES


@pytest.mark.parametrize("address", ["", MEMBER.upper(), MEMBER[:-1], "0x" + MEMBER[2:], 5])
def test_bad_member_address(address):
    d = doc()
    d["members"][0]["address"] = address
    bad(d)


@pytest.mark.parametrize("key", [
    "zz" * 64, "00" * 64, "11" * 63, KEYS[0].public_key.hex()[:-2] + "00", "03" + "11" * 64,
    "", 12345, None,
], ids=["not-hex", "zero", "short", "off-curve", "03-prefix", "empty", "int", "none"])
def test_bad_validator_key(key):
    d = doc()
    d["validators"][2]["public_key"] = key
    bad(d)


def test_address_mismatch():
    d = doc()
    d["validators"][1]["address"] = address_of(KEYS[2].public_key)
    bad(d, "address does not match")


def test_duplicate_validator():
    d = doc()
    d["validators"][3]["public_key"] = d["validators"][0]["public_key"]
    d["validators"][3]["address"] = d["validators"][0]["address"]
    bad(d, "duplicate")
    d = doc()
    dup = copy.deepcopy(d["validators"][0])
    dup["public_key"] = "04" + dup["public_key"]  # same key, other spelling
    dup["name"] = "node0-again"
    d["validators"].append(dup)
    bad(d, "duplicate")


def test_no_validators():
    d = doc()
    d["validators"] = []
    bad(d, "at least one validator")


@pytest.mark.parametrize("params", [{"max_block_tx": 5}, {"gas_price": 1}, {"": 0}])
def test_unknown_param(params):
    d = doc()
    d["params"] = params
    bad(d, "unknown params")


@pytest.mark.parametrize("name,value", [
    ("max_block_txs", "500"), ("max_block_txs", 500.0), ("max_block_txs", True),
    ("empty_blocks", 1), ("empty_blocks", "true"), ("view_timeout_ms", None),
])
def test_wrong_param_type(name, value):
    d = doc()
    d["params"] = {name: value}
    bad(d, f"param {name}")


@pytest.mark.parametrize("ts", ["0", 1.5, None, True])
def test_bad_timestamp(ts):
    d = doc()
    d["timestamp_ms"] = ts
    bad(d, "timestamp")


@pytest.mark.parametrize("d", [
    [], "genesis", None, {"chain_id": "c", "validators": [{"public_key": KEYS[0].public_key.hex()}]},
    {"chain_id": "c", "validators": [{"name": "v"}]}, {"chain_id": "c", "validators": 5},
    {"chain_id": "c", "validators": ["abc"]},
], ids=["list", "str", "none", "no-name", "no-key", "validators-int", "validator-str"])
def test_malformed_documents(d):
    bad(d)


def test_load_errors(tmp_path):
    with pytest.raises(GenesisError):
        Genesis.load(tmp_path / "absent.json")
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(GenesisError):
        Genesis.load(p)
