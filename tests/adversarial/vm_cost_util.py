"""Shared by the test_vm_cost_* files: run a contract body and compute the documented
static part of its gas (docs/contracts.md, Gas), so tests can assert exact gas figures."""

from __future__ import annotations

import ast
import tracemalloc

from chainnode.vm import GAS
from chainnode.vm.memhost import MemoryHost
from chainnode.vm.rewriter import count_nodes


def source(body: str, extra: str = "") -> str:
    lines = "\n".join("    " + line for line in body.strip("\n").split("\n"))
    return f"@export\ndef f():\n{lines}\n{extra}"


def run(body: str, gas: int = 2_000_000, extra: str = "", host: MemoryHost | None = None):
    h = host or MemoryHost()
    h.deploy("c", source(body, extra))
    return h.call("c", "f", gas=gas)


# copying the empty kwargs dict through the codec: a deep visit of one node, then encoding
# and decoding one node
EMPTY_ARGS = (GAS["walk"] + 1) * GAS["walk_node"] + 2 * GAS["codec_node"]


def traced_call(body: str, gas: int):
    """Deploy `body` as f() on a fresh MemoryHost and call it with `gas`: (its receipt, the
    peak bytes tracemalloc saw allocated during the call)."""
    h = MemoryHost()
    h.deploy("hog", source(body))
    tracemalloc.start()
    try:
        r = h.call("hog", "f", gas=gas)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return r, peak


def base_gas(src: str, fn: str = "f") -> int:
    """call + code_load + module instantiation + empty arguments + entry of `fn` (its body
    outside loops): what a call costs before its first guarded operation."""
    tree = ast.parse(src)
    fdef = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == fn)
    return (GAS["call"] + GAS["code_load"] * ((len(src) + 7) // 8)
            + GAS["module"] + GAS["node"] * count_nodes(tree.body)
            + EMPTY_ARGS + GAS["fn_entry"] + GAS["node"] * count_nodes(fdef.body))


def mem(nbytes: int) -> int:
    """The `mem` charge for nbytes produced."""
    return GAS["mem"] * ((nbytes + 15) // 16)


def str_mul(n: int, width: int = 1) -> int:
    """Gas of `'x' * n` (a str of n chars of `width` bytes): one op plus its bytes."""
    return GAS["op"] + mem(80 + n * width)


def search(n: int, m: int, reverse: bool = False) -> int:
    """Gas of one search of an m-char needle in an n-char haystack (common.search_pairs)."""
    two_way = n >= 2500 and (m >= 100 or n >= 30000) and m >= 6 and (m >> 2) * 3 < (n >> 2)
    pairs = 0
    if 1 < m <= n and (reverse or not two_way):
        pairs = (n - m + 1) * m
    return GAS["op"] + ((n + m) >> 4) * GAS["scan"] + (pairs >> 7) * GAS["pairs"]
