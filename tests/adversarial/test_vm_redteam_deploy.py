"""Red-team finding after issue 8: deploys were priced per source byte only, but checking,
rewriting and compiling cost 5-8 µs per syntax node, and a dense source packs 1.4 nodes per
byte (a chain of comparisons, `a<a<a<...`; honest contracts have ~0.2). A 21 KB source of
30,000 nodes took 224 ms of CPU for 441k gas (0.51 µs per gas, target 0.2). Deploys and
upgrades now also pay DEPLOY_GAS_PER_NODE per node as the checker counts them, accepted or
refused, so the worst shape stays near 0.14 µs per gas."""

from __future__ import annotations

from chainnode.exec import system
from chainnode.exec.executor import DEPLOY_GAS_PER_BYTE, DEPLOY_GAS_PER_NODE
from chainnode.vm.checker import source_nodes
from chainnode.vm.gas import MAX_AST_NODES
from tests.adversarial.test_vm_host_executor import chain, deploy  # noqa: F401 - fixture

DENSE = "def f(a):\n" + "    a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a<a\n" * 40


def _price(src: str) -> int:
    return (system.SYSTEM_GAS + DEPLOY_GAS_PER_BYTE * len(src.encode())
            + DEPLOY_GAS_PER_NODE * source_nodes(src))


def test_source_nodes_counts_like_the_checker():
    # Module, Assign, Name, Store, Constant
    assert source_nodes("x = 1\n") == 5
    assert source_nodes("def f(:\n") == 0  # does not parse: refused at once
    assert source_nodes("x=1\n" * 8_000) == MAX_AST_NODES + 1  # capped (32,001 nodes)
    assert source_nodes("x=1\n" * 20_000) == 0  # over 64 KiB: refused by size first


def test_dense_deploy_pays_per_node(chain):  # noqa: F811 - the fixture
    rc = chain.one(deploy("dense", DENSE, gas=5_000_000))
    assert rc.ok, rc.error_message
    nodes = source_nodes(DENSE)
    assert nodes > len(DENSE)  # more nodes than bytes: what the byte price missed
    assert rc.gas_used == _price(DENSE)


def test_refused_dense_deploy_pays_per_node_too(chain):  # noqa: F811 - the fixture
    src = DENSE + "def g():\n    return unknown_name\n"
    rc = chain.one(deploy("refused", src, gas=5_000_000))
    assert (rc.ok, rc.error_code) == (False, "CONTRACT_REJECTED")
    assert rc.gas_used == _price(src)


def test_a_gas_limit_below_the_byte_price_is_refused_before_parsing(chain):  # noqa: F811
    rc = chain.one(deploy("cheap", DENSE, gas=system.SYSTEM_GAS + 10))
    assert (rc.ok, rc.error_code, rc.gas_used) == (False, "VM_OUT_OF_GAS",
                                                   system.SYSTEM_GAS + 10)
