"""Constants and small helpers shared by the runtime mixins."""

from __future__ import annotations

import re
from typing import Any

from chainnode.vm.errors import VMError
from chainnode.vm.gas import GAS, MAX_COLLECTION_LEN, MAX_INT_BITS, MAX_STR_LEN
from chainnode.vm.hostobjs import Ctx, Map, Storage, TypeProxy

INT_LIMIT = 1 << MAX_INT_BITS
HASH_INJECTIVE = (1 << 61) - 1  # |k| below this: int hashes are distinct (but -1/-2)
MAX_HASH_TWINS = 8
CODE_RE = re.compile(r"[A-Z][A-Z0-9_]{0,47}\Z")
EVENT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")
G_NODE = GAS["node"]
G_ITEM = GAS["item"]
G_CHUNK = GAS["chunk"]
G_OP = GAS["op"]
G_SCAN = GAS["scan"]
G_LIMB2 = GAS["limb2"]
G_WALK_NODE = GAS["walk_node"]
G_CODEC_NODE = GAS["codec_node"]
NO_DEFAULT = object()
SEQ_TYPES = (str, bytes, list, tuple)
HASHABLE_LEAVES = (int, str, bytes, bool, type(None))
TYPE_NAMES = {
    int: "int", bool: "bool", str: "str", bytes: "bytes", list: "list", tuple: "tuple",
    dict: "dict", type(None): "None", range: "range", Ctx: "ctx", Storage: "storage",
    Map: "Map", TypeProxy: "type",
}  # fmt: skip


def type_name(x: Any) -> str:
    return TYPE_NAMES.get(type(x), "function" if callable(x) else "object")


def size_error(message: str) -> VMError:
    return VMError("VM_SIZE_LIMIT", message)


def type_error(message: str) -> VMError:
    return VMError("VM_TYPE_ERROR", message)


def value_error(message: str) -> VMError:
    return VMError("VM_VALUE_ERROR", message)


def check_int(r: int) -> int:
    if -INT_LIMIT < r < INT_LIMIT:
        return r
    raise size_error(f"integer result wider than {MAX_INT_BITS} bits")


def is_int(x: Any) -> bool:
    t = type(x)
    return t is int or t is bool


def limbs(x: int) -> int:
    return (x.bit_length() >> 6) + 1


def seq_cap(x: Any) -> int:
    return MAX_STR_LEN if type(x) in (str, bytes) else MAX_COLLECTION_LEN
