"""Deploy-time checker: what is accepted, what is refused, and that the rule is named."""

from __future__ import annotations

import pytest

from chainnode.vm import ContractRejected, compile_contract
from chainnode.vm.gas import MAX_SOURCE_BYTES
from chainnode.vm.names import ATTRIBUTES, BUILTIN_NAMES, HOST_NAMES
from chainnode.vm.runtime import METHODS

GOOD = '''
"""A contract that uses most of the language."""
SCALE = 10 ** 4
NAMES = ["a", "b"]
bal = Map("bal")


def init(owner: str, supply: int = 100):
    bal[owner] = supply


def helper(x, /, y=2, *, z=3):
    return x + y + z


@export
def work(n: int) -> dict:
    total = 0
    for i in range(n):
        if i % 2 == 0 and i not in [3, 5]:
            total += i
        elif i is None:
            continue
        else:
            total -= 1
    while total > 100:
        total //= 2
    xs = [i * i for i in range(5) if i > 1]
    d = {k: v for k, v in zip(NAMES, xs)}
    d["c"] = len(xs)
    del d["a"]
    a, b = divmod(total, 7)
    label = f"total={total} a={a}"
    return {"t": total, "d": d, "label": label, "h": helper(1, z=4), "s": 0 <= a < 7}


@view
def read(who: str):
    return bal[who]
'''


def test_good_contract_compiles_with_exports_and_init():
    c = compile_contract("demo", GOOD)
    assert dict(c.exports) == {"read": "view", "work": "export"}
    assert list(c.exports) == sorted(c.exports)
    assert c.has_init is True
    assert c.name == "demo" and c.source == GOOD
    assert len(c.code_hash) == 32


def test_compile_is_deterministic_and_hash_is_sm3_of_source():
    from chainnode.crypto.hashing import sm3

    a = compile_contract("demo", GOOD)
    b = compile_contract("demo", GOOD)
    assert a == b
    assert a.code_hash == sm3(GOOD.encode("utf-8"))


def test_no_init_means_has_init_false():
    c = compile_contract("x", "@view\ndef f():\n    return 1\n")
    assert c.has_init is False


def test_exports_mapping_is_read_only():
    c = compile_contract("x", "@view\ndef f():\n    return 1\n")
    with pytest.raises(TypeError):
        c.exports["g"] = "export"  # type: ignore[index]


def fn(body: str, deco: str = "@export") -> str:
    lines = "\n".join("    " + line for line in body.strip("\n").split("\n"))
    return f"{deco}\ndef f(a=1, b=2):\n{lines}\n"


REJECTS = [
    # (id, source, rule)
    ("import", "import os\n", "no-import"),
    ("from-import", "from os import path\n", "no-import"),
    ("import-in-fn", fn("import os"), "no-import"),
    ("class", "class A:\n    pass\n", "no-class"),
    ("lambda", fn("return lambda: 1"), "no-lambda"),
    ("try", fn("try:\n    pass\nexcept:\n    pass"), "no-try"),
    ("raise", fn("raise a"), "no-raise"),
    ("with", fn("with a:\n    pass"), "no-with"),
    ("global", fn("global a"), "no-global"),
    ("nonlocal", fn("nonlocal a"), "no-nonlocal"),
    ("yield", fn("yield 1"), "no-generator"),
    ("yield-from", fn("yield from a"), "no-generator"),
    ("genexp", fn("return sum(x for x in a)"), "no-generator"),
    ("async-def", "async def f():\n    pass\n", "no-async"),
    ("match", fn("match a:\n    case 1:\n        pass"), "no-match"),
    ("walrus", fn("return (y := 1)"), "no-walrus"),
    ("set-literal", fn("return {1, 2}"), "no-set"),
    ("set-comp", fn("return {x for x in a}"), "no-set"),
    ("set-builtin", fn("return set()"), "forbidden-name"),
    ("float", fn("return 1.5"), "no-float"),
    ("float-exp", fn("return 1e3"), "no-float"),
    ("complex", fn("return 2j"), "no-float"),
    ("true-div", fn("return a / b"), "no-true-division"),
    ("true-div-aug", fn("a /= 2"), "no-true-division"),
    ("format", fn("return 'x{}'.format(a)"), "no-format"),
    ("format-map", fn("return 'x'.format_map(a)"), "no-format"),
    ("fstring-conv", fn("return f'{a!r}'"), "no-format"),
    ("fstring-spec", fn("return f'{a:>10}'"), "no-format"),
    ("percent-str", fn("return '%s' % a"), "no-string-percent"),
    ("percent-fstr", fn("return f'%s{a}' % a"), "no-string-percent"),
    ("decorator-other", "@staticmethod\ndef f():\n    pass\n", "decorator"),
    ("decorator-call", "@export()\ndef f():\n    pass\n", "decorator"),
    ("decorator-two", "@export\n@view\ndef f():\n    pass\n", "decorator"),
    ("init-exported", "@export\ndef init():\n    pass\n", "init-decorated"),
    ("underscore-name", fn("_x = 1"), "no-underscore"),
    ("dunder-attr", fn("return a.__class__"), "no-underscore"),
    ("underscore-def", "def _helper():\n    pass\n", "no-underscore"),
    ("underscore-arg", "def g(_x):\n    pass\n", "no-underscore"),
    ("underscore-kw", fn("return g(_x=1)") + "def g(**k):\n    pass\n", "no-underscore"),
    ("rebind-host", fn("storage = 1"), "no-rebind-host"),
    ("rebind-builtin", fn("len = 1"), "no-rebind-host"),
    ("rebind-def", "def require():\n    pass\n", "no-rebind-host"),
    ("rebind-arg", "def g(ctx):\n    pass\n", "no-rebind-host"),
    ("rebind-posonly", "def g(storage, /):\n    pass\n", "no-rebind-host"),
    ("rebind-kwonly", "def g(*, emit=1):\n    pass\n", "no-rebind-host"),
    ("rebind-for", fn("for call in a:\n    pass"), "no-rebind-host"),
    ("rebind-comp", fn("return [1 for sm3 in a]"), "no-rebind-host"),
    ("rebind-del", fn("del Map"), "no-rebind-host"),
    ("rebind-module", "export = 1\n", "no-rebind-host"),
    ("forbidden-getattr", fn("return getattr(a, 'b')"), "forbidden-name"),
    ("forbidden-type", fn("return type(a)"), "forbidden-name"),
    ("forbidden-eval", fn("return eval('1')"), "forbidden-name"),
    ("forbidden-print", fn("print(a)"), "forbidden-name"),
    ("unknown-name", fn("return foo"), "unknown-name"),
    ("attr-not-allowed", fn("return a.mro"), "attribute-not-allowed"),
    ("attr-gi-frame", fn("return a.gi_frame"), "attribute-not-allowed"),
    ("attr-assign", fn("ctx.sender = 1"), "no-attribute-assign"),
    ("attr-del", fn("del ctx.sender"), "no-attribute-assign"),
    ("attr-aug", fn("ctx.height += 1"), "no-attribute-assign"),
    ("nested-def", fn("def g():\n    pass"), "no-nested-def"),
    ("duplicate-def", "def g():\n    pass\ndef g():\n    pass\n", "duplicate-def"),
    ("rebind-def-const", "def g():\n    pass\ng = 1\n", "duplicate-def"),
    ("star-param", "def g(*a):\n    pass\n", "no-star-args"),
    ("kwargs-param", "def g(**k):\n    pass\n", "no-star-args"),
    ("star-call", fn("return max(*a)"), "no-star-args"),
    ("kwargs-call", fn("return dict(**a)"), "no-star-args"),
    ("dict-unpack", fn("return {**a}"), "no-star-args"),
    ("star-assign", fn("x, *y = a"), "no-star-args"),
    ("slice-assign", fn("a[1:2] = b"), "no-slice-assign"),
    ("slice-del", fn("del a[:]"), "no-slice-assign"),
    ("chained-call", fn("return 1 < len(a) < 3"), "chained-compare"),
    ("is-int", fn("return a is 1"), "is-only-none"),
    ("is-names", fn("return a is b"), "is-only-none"),
    ("assert", fn("assert a"), "no-assert"),
    ("ellipsis", fn("return ..."), "constant-not-allowed"),
    ("int-literal", fn("return " + "9" * 700), "int-literal-too-large"),
    ("matmul", fn("return a @ b"), "node-not-allowed"),
    ("top-level-call", "storage.set('x', 1)\n", "top-level-statement"),
    ("top-level-for", "for i in range(3):\n    pass\n", "top-level-statement"),
    ("top-level-subscript", "X = {}\nX['a'] = 1\n", "top-level-statement"),
    ("del-tuple", fn("del (a, b)"), "bad-target"),
    ("syntax", fn("return ("), "syntax"),
    ("fullwidth", fn("return ａ"), "ascii-identifiers"),
    ("fullwidth-dunder", fn("return a.__ｃｌａｓｓ__"), "ascii-identifiers"),
    ("fullwidth-host", fn("ｓｔｏｒａｇｅ = 1"), "ascii-identifiers"),
    ("math-letters", fn("return \U0001d41e\U0001d42f\U0001d41a\U0001d425('1')"), "ascii-identifiers"),
]


@pytest.mark.parametrize("src,rule", [(s, r) for _, s, r in REJECTS], ids=[i for i, _, _ in REJECTS])
def test_rejected_with_rule(src, rule):
    with pytest.raises(ContractRejected) as info:
        compile_contract("bad", src)
    assert info.value.rule == rule, info.value
    assert info.value.line >= 1
    assert info.value.message


def test_error_names_line_and_column():
    src = "@export\ndef f():\n    x = 1\n    return x.__class__\n"
    with pytest.raises(ContractRejected) as info:
        compile_contract("bad", src)
    assert (info.value.rule, info.value.line, info.value.col) == ("no-underscore", 4, 12)
    assert "no-underscore at 4:12" in str(info.value)


def test_source_size_cap():
    src = "X = 1\n" + "#" * MAX_SOURCE_BYTES
    with pytest.raises(ContractRejected) as info:
        compile_contract("big", src)
    assert info.value.rule == "source-too-large"


def test_nesting_depth_cap():
    src = fn("return " + "+".join(["a"] * 200))
    with pytest.raises(ContractRejected) as info:
        compile_contract("deep", src)
    assert info.value.rule == "too-complex"


def test_parser_recursion_is_a_rejection_not_a_crash():
    src = "X = " + "-" * 30000 + "1\n"
    with pytest.raises(ContractRejected) as info:
        compile_contract("deep", src)
    assert info.value.rule in ("too-complex", "syntax")


def test_non_ascii_in_strings_and_comments_is_fine():
    src = '# 电费合约\n@view\ndef f():\n    return "千瓦时" + f"电费 {{x}} {len(\'ab\')}"\n'
    assert compile_contract("cn", src).exports == {"f": "view"}


def test_nul_byte_is_syntax_error():
    with pytest.raises(ContractRejected) as info:
        compile_contract("nul", "X = 1\x00\n")
    assert info.value.rule == "syntax"


def test_annotations_are_allowed_and_need_not_resolve():
    src = "@view\ndef f(a: Optional[int] = None) -> Whatever:\n    x: int = 1\n    return x\n"
    assert compile_contract("ann", src).exports == {"f": "view"}


def test_every_listed_attribute_has_a_runtime_handler():
    from chainnode.vm.hostobjs import Map, Storage

    by_name = {
        "str": str, "bytes": bytes, "int": int, "list": list, "tuple": tuple, "dict": dict,
        "storage": Storage, "Map": Map,
    }  # fmt: skip
    for tname, attrs in ATTRIBUTES.items():
        if tname in by_name:
            for attr in attrs:
                assert (by_name[tname], attr) in METHODS, (tname, attr)
    for (t, attr) in METHODS:
        name = {v: k for k, v in by_name.items()}[t]
        assert attr in ATTRIBUTES[name], (name, attr)


def test_visible_names_match_runtime_namespace():
    from chainnode.vm.api import CallContext
    from chainnode.vm.memhost import MemoryHost
    from chainnode.vm.roles import ROLE_NAMES
    from chainnode.vm.runtime import Runtime

    rt = Runtime(MemoryHost(), CallContext("a", 1, 1, "", "c"), 10, lambda c: None)
    public = {k for k in rt.builtins if not k.startswith("_")}
    per_frame = {"ctx", "storage", "Map", "emit", "call", *ROLE_NAMES}
    assert public | per_frame == HOST_NAMES | BUILTIN_NAMES


def test_python_builtin_names_are_fine_as_own_variables_and_keywords():
    src = ("@export\ndef f(type, format=1):\n    emit('E', type=type, id=format)\n"
           "    hash = sm3('x')\n    return [type, hash]\n")
    assert compile_contract("ok", src).exports == {"f": "export"}
