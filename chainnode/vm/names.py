"""The names a contract may see: host API, builtins, and attributes.

Kept apart from the checker and the runtime so both are built from one list; a unit test
checks that every attribute named here has a runtime handler and vice versa.
"""

from __future__ import annotations

HOST_NAMES = frozenset(
    {
        "export",
        "view",
        "ctx",
        "storage",
        "Map",
        "emit",
        "require",
        "has_role",
        "call",
        "div_half_up",
        "muldiv",
        "isqrt",
        "pow10",
        "sm3",
        "role_has",
        "role_require",
        "role_grant",
        "role_revoke",
    }
)

BUILTIN_NAMES = frozenset(
    {
        "len",
        "range",
        "min",
        "max",
        "sum",
        "abs",
        "sorted",
        "reversed",
        "enumerate",
        "zip",
        "int",
        "str",
        "bool",
        "list",
        "dict",
        "tuple",
        "isinstance",
        "divmod",
        "any",
        "all",
        "round",
        "hex",
        "ord",
        "chr",
        "bytes",
    }
)

# Python builtins that are escape or nondeterminism primitives; named in the rejection so the
# author sees why rather than a generic "unknown name".
FORBIDDEN_NAMES = frozenset(
    {
        "type",
        "object",
        "super",
        "getattr",
        "setattr",
        "delattr",
        "hasattr",
        "vars",
        "dir",
        "globals",
        "locals",
        "eval",
        "exec",
        "compile",
        "open",
        "input",
        "print",
        "breakpoint",
        "help",
        "id",
        "hash",
        "repr",
        "ascii",
        "format",
        "iter",
        "next",
        "aiter",
        "anext",
        "callable",
        "classmethod",
        "staticmethod",
        "property",
        "memoryview",
        "bytearray",
        "set",
        "frozenset",
        "float",
        "complex",
        "slice",
        "map",
        "filter",
        "pow",
        "bin",
        "oct",
        "issubclass",
        "exit",
        "quit",
        "copyright",
        "credits",
        "license",
        "NotImplemented",
        "Ellipsis",
        "BaseException",
        "Exception",
    }
)

# Attribute names per runtime type name. The checker accepts the union; the runtime dispatches
# on the exact (type, name) pair.
ATTRIBUTES: dict[str, frozenset[str]] = {
    "str": frozenset(
        {
            "lower",
            "upper",
            "capitalize",
            "title",
            "strip",
            "lstrip",
            "rstrip",
            "split",
            "rsplit",
            "splitlines",
            "startswith",
            "endswith",
            "find",
            "rfind",
            "index",
            "rindex",
            "count",
            "join",
            "replace",
            "ljust",
            "rjust",
            "center",
            "zfill",
            "encode",
            "partition",
            "rpartition",
            "removeprefix",
            "removesuffix",
            "isdigit",
            "isdecimal",
            "isalpha",
            "isalnum",
            "isspace",
            "islower",
            "isupper",
            "isascii",
        }
    ),
    "bytes": frozenset(
        {"hex", "decode", "startswith", "endswith", "find", "count", "index", "isascii"}
    ),
    "int": frozenset({"bit_length", "to_bytes"}),
    "list": frozenset(
        {
            "append",
            "extend",
            "insert",
            "pop",
            "remove",
            "index",
            "count",
            "reverse",
            "sort",
            "copy",
            "clear",
        }
    ),
    "tuple": frozenset({"index", "count"}),
    "dict": frozenset(
        {"get", "keys", "values", "items", "pop", "setdefault", "update", "copy", "clear"}
    ),
    "ctx": frozenset({"sender", "caller", "caller_kind", "height", "time_ms", "tx_hash",
                      "contract", "chain_id"}),
    "storage": frozenset({"get", "set", "delete", "has"}),
    "Map": frozenset({"get", "has", "delete"}),
}

ALL_ATTRIBUTES = frozenset().union(*ATTRIBUTES.values())
