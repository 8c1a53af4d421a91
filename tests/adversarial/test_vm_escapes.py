"""Sandbox escape corpus: reflection, frames, format strings, name tricks, host mutation.

Each attempt must be rejected at deploy with the named rule, or (when it is legal syntax that
only fails at run time) end in a failed result with a stable code. The corpus replays the
published escape families of RestrictedPython (generator frames, format-string attribute
paths, positional-only parameters shadowing guard hooks, try/except* confusion) and of
Lamden/Xian contracting (dunder chains past the linter, shared module state, storage-key
separator collisions).
"""

from __future__ import annotations

import sys

import pytest

from chainnode import codec
from chainnode.vm import ContractRejected, compile_contract
from chainnode.vm.memhost import MemoryHost


def fn(body: str) -> str:
    lines = "\n".join("    " + line for line in body.strip("\n").split("\n"))
    return f"@export\ndef f(x=1, y=2):\n{lines}\n"


DEPLOY_REJECTS = [
    # --- dunder / reflection chains
    ("subclasses-chain", fn("return ().__class__.__bases__[0].__subclasses__()"), "no-underscore"),
    ("func-globals", fn("return f.__globals__"), "no-underscore"),
    ("dict-attr", fn("return ctx.__dict__"), "no-underscore"),
    ("module-name", fn("return __name__"), "no-underscore"),
    ("builtins-subscript", fn("return __builtins__['eval']"), "no-underscore"),
    ("dunder-import", fn("return __import__('os')"), "no-underscore"),
    ("getattr-dunder", fn("return getattr(ctx, '__cl' + 'ass__')"), "forbidden-name"),
    ("vars", fn("return vars(ctx)"), "forbidden-name"),
    ("globals", fn("return globals()"), "forbidden-name"),
    ("locals", fn("return locals()"), "forbidden-name"),
    ("mro-attr", fn("return x.mro()"), "attribute-not-allowed"),
    ("fromkeys", fn("return dict.fromkeys([1])"), "attribute-not-allowed"),
    ("maketrans", fn("return str.maketrans('a', 'b')"), "attribute-not-allowed"),
    # --- identifiers that NFKC-normalise to something else
    ("fullwidth-class", fn("return x.__ｃｌａｓｓ__"), "ascii-identifiers"),
    ("fullwidth-eval", fn("return ｅｖａｌ('1')"), "ascii-identifiers"),
    ("math-bold-import", fn("return __\U0001d422\U0001d426\U0001d429\U0001d428\U0001d42b\U0001d42d__('os')"),
     "ascii-identifiers"),
    ("math-italic-storage", fn("\U0001d460torage = 1"), "ascii-identifiers"),
    ("fullwidth-in-fstring", fn("return f'{ｃｔｘ.__ｃｌａｓｓ__}'"), "ascii-identifiers"),
    ("fullwidth-decorator", "@ｅｘｐｏｒｔ\ndef f():\n    pass\n", "ascii-identifiers"),
    # --- frames via generators, coroutines and tracebacks
    ("genexp", fn("return list(a for a in [1])"), "no-generator"),
    ("genexp-frame-chain", fn("return (a for a in [1]).gi_frame.f_back.f_globals"),
     "attribute-not-allowed"),
    ("yield-frame", "def g():\n    yield 1\n" + fn("return g().gi_frame"), "no-generator"),
    ("gi-frame-attr", fn("return sorted.gi_frame"), "attribute-not-allowed"),
    ("f-globals-attr", fn("return x.f_globals"), "attribute-not-allowed"),
    ("cr-frame-attr", fn("return x.cr_frame"), "attribute-not-allowed"),
    ("tb-frame-attr", fn("return x.tb_frame"), "attribute-not-allowed"),
    ("co-code-attr", fn("return x.co_code"), "attribute-not-allowed"),
    ("async-coroutine", "async def g():\n    pass\n", "no-async"),
    ("traceback-via-except", fn("try:\n    1 // 0\nexcept Exception as e:\n    return e"), "no-try"),
    ("except-star", fn("try:\n    pass\nexcept* ValueError:\n    pass"), "no-try"),
    # --- format strings reaching attributes
    ("format-field-path", fn("return '{0.__class__.__mro__}'.format(x)"), "no-format"),
    ("format-map-ctx", fn("return '{c.sender}'.format_map({'c': ctx})"), "no-format"),
    ("fstring-repr", fn("return f'{f!r}'"), "no-format"),
    ("fstring-nested-spec", fn("return f'{x:{y}}'"), "no-format"),
    ("percent-dict", fn("return '%(a)s' % {'a': ctx}"), "no-string-percent"),
    ("formatter-import", fn("from string import Formatter"), "no-import"),
    ("format-builtin", fn("return format(x, 'x')"), "forbidden-name"),
    # --- match-pattern attribute capture
    ("match-class-capture", fn("match ctx:\n    case object(sender=s):\n        return s"), "no-match"),
    ("match-mapping", fn("match x:\n    case {'a': a}:\n        return a"), "no-match"),
    # --- shadowing host names and rewriter hooks
    ("posonly-hook", "def g(_vm_g, /):\n    return _vm_g\n", "no-underscore"),
    ("posonly-storage", "def g(storage, /):\n    return storage\n", "no-rebind-host"),
    ("posonly-require", "def g(require, /):\n    pass\n", "no-rebind-host"),
    ("kwonly-call", "def g(*, call=None):\n    pass\n", "no-rebind-host"),
    ("default-shadow", "def g(ctx=1):\n    pass\n", "no-rebind-host"),
    ("comp-shadow", fn("return [len for len in [1]]"), "no-rebind-host"),
    ("walrus-shadow", fn("return [(emit := 1) for a in [1]]"), "no-walrus"),
    ("global-rebind", fn("global storage\nstorage = 1"), "no-global"),
    ("def-shadows-builtin", "def sorted(a):\n    return a\n", "no-rebind-host"),
    ("module-shadow", "Map = dict\n", "no-rebind-host"),
    ("del-host", fn("del storage"), "no-rebind-host"),
    # --- type(), classes, import and builtins access
    ("type-three-args", fn("return type('X', (object,), {'a': 1})"), "forbidden-name"),
    ("class-metaclass", "class M(type):\n    pass\n", "no-class"),
    ("object-new", fn("return object.__new__(x)"), "no-underscore"),
    ("object", fn("return object()"), "forbidden-name"),
    ("super", fn("return super()"), "forbidden-name"),
    ("import-os", "import os\n", "no-import"),
    ("import-in-function", fn("import sys\nreturn sys.modules"), "no-import"),
    ("eval", fn("return eval('1 + 1')"), "forbidden-name"),
    ("exec", fn("exec('x = 1')"), "forbidden-name"),
    ("compile", fn("return compile('1', 'a', 'eval')"), "forbidden-name"),
    ("open", fn("return open('/etc/passwd')"), "forbidden-name"),
    ("breakpoint", fn("breakpoint()"), "forbidden-name"),
    ("lambda-closure", fn("return (lambda: 1)"), "no-lambda"),
    # --- mutation of host objects
    ("ctx-assign", fn("ctx.sender = 'admin'"), "no-attribute-assign"),
    ("storage-method-assign", fn("storage.set = storage.get"), "no-attribute-assign"),
    ("ctx-del", fn("del ctx.caller"), "no-attribute-assign"),
    ("decorator-call", "@call\ndef g():\n    pass\n", "decorator"),
    # --- nondeterminism
    ("set-literal", fn("return {3, 1, 2}"), "no-set"),
    ("set-builtin", fn("return set([1])"), "forbidden-name"),
    ("frozenset", fn("return frozenset([1])"), "forbidden-name"),
    ("float-literal", fn("return 0.1 + 0.2"), "no-float"),
    ("float-builtin", fn("return float('nan')"), "forbidden-name"),
    ("true-division", fn("return x / y"), "no-true-division"),
    ("hash-builtin", fn("return hash('a')"), "forbidden-name"),
    ("id-builtin", fn("return id(x)"), "forbidden-name"),
    ("repr-builtin", fn("return repr(f)"), "forbidden-name"),
    ("identity-compare", fn("return x is y"), "is-only-none"),
    # --- memory primitives
    ("bytearray", fn("return bytearray(10)"), "forbidden-name"),
    ("memoryview", fn("return memoryview(b'a')"), "forbidden-name"),
    # --- parser and size abuse
    ("parser-nesting", "X = " + "(" * 250 + "1" + ")" * 250 + "\n", "syntax"),
    ("expr-nesting", "X = " + "-" * 20000 + "1\n", "too-complex"),
    ("source-size", "X = 1\n" + "# pad\n" * 12000, "source-too-large"),
    ("nul-byte", "X = 1\n\x00\n", "syntax"),
]


@pytest.mark.parametrize("src,rule", [(s, r) for _, s, r in DEPLOY_REJECTS],
                         ids=[i for i, _, _ in DEPLOY_REJECTS])
def test_deploy_rejects(src, rule):
    with pytest.raises(ContractRejected) as info:
        compile_contract("evil", src)
    assert info.value.rule == rule, str(info.value)


def test_corpus_size():
    assert len(DEPLOY_REJECTS) >= 40


@pytest.fixture()
def host():
    return MemoryHost()


def deploy_run(host: MemoryHost, body: str, gas: int = 1_000_000, extra: str = "", **kw):
    host.deploy("evil", fn(body) + extra)
    r = host.call("evil", "f", gas=gas, **kw)
    assert r.gas_used <= gas
    assert "0x" not in r.error_message
    return r


RUNTIME = [
    # legal syntax whose object is not what the attribute name suggests
    ("int-type-attr", "return int.to_bytes(1, 2, 'big')", "VM_TYPE_ERROR"),
    ("method-of-method", "return storage.get.get('k')", "VM_TYPE_ERROR"),
    ("builtin-attr", "return len.count", "VM_TYPE_ERROR"),
    ("ctx-as-method", "return ctx.get('sender')", "VM_TYPE_ERROR"),
    ("map-iteration", "m = Map('m')\nfor k in m:\n    pass", "VM_TYPE_ERROR"),
    ("map-as-key", "d = {}\nd[Map('m')] = 1", "VM_TYPE_ERROR"),
    ("function-as-key", "return {f: 1}", "VM_TYPE_ERROR"),
    ("str-of-function", "return str(f)", "VM_TYPE_ERROR"),
    ("fstring-of-host", "return f'{ctx}'", "VM_TYPE_ERROR"),
    ("return-host", "return storage", "VM_BAD_RETURN"),
    ("store-function", "storage.set('k', [f])", "VM_TYPE_ERROR"),
    ("emit-function", "emit('E', x=f)", "VM_TYPE_ERROR"),
    ("set-ops-on-keys", "d = {'a': 1}\nreturn d.keys() & d.keys()", "VM_TYPE_ERROR"),
    ("percent-on-str-var", "s = '%s'\nreturn s % 'x'", "VM_TYPE_ERROR"),
    ("negative-power-float", "return 2 ** -1", "VM_VALUE_ERROR"),
    ("int-of-float-text", "return int('1.5')", "VM_VALUE_ERROR"),
    ("spoof-vm-code", "require(False, 'VM_OUT_OF_GAS')", "VM_BAD_CODE"),
    ("bound-write-from-view", "w = storage.set\nw('k', 1)", "VM_READONLY"),
]


@pytest.mark.parametrize("body,code", [(b, c) for _, b, c in RUNTIME], ids=[i for i, _, _ in RUNTIME])
def test_runtime_escapes_fail_cleanly(host, body, code):
    if code == "VM_READONLY":
        host.deploy("evil", "@view\ndef f():\n" + "\n".join("    " + ln for ln in body.split("\n")))
        r = host.call("evil", "f")
    else:
        r = deploy_run(host, body)
    assert (r.ok, r.error_code) == (False, code), r.error_message
    assert r.writes == () and r.events == ()


def test_float_arguments_refused(host):
    r = deploy_run(host, "return x", x=0.5)
    assert (r.ok, r.error_code) == (False, "VM_BAD_ARGS")


def test_module_state_not_shared_between_instances(host):
    """Lamden-style shared module state: a re-entrant call gets a fresh module, and the outer
    call's mutation is invisible to it and to the next transaction."""
    a = '''
CONFIG = {"admin": "root"}


@export
def hijack():
    CONFIG["admin"] = "mallory"
    return call("b", "ask")


@view
def admin():
    return CONFIG["admin"]
'''
    b = '@view\ndef ask():\n    return call("a", "admin")\n'
    host.deploy("a", a)
    host.deploy("b", b)
    assert host.call("a", "hijack").value == "root"
    assert host.call("a", "admin").value == "root"


def test_callee_cannot_mutate_callers_objects(host):
    host.deploy("b", "@export\ndef g(d):\n    d['owner'] = 'mallory'\n    return d\n")
    r = deploy_run(host, "d = {'owner': 'me'}\nout = call('b', 'g', d=d)\nreturn [d, out]")
    assert r.value == [{"owner": "me"}, {"owner": "mallory"}]


def test_storage_key_separators_do_not_collide(host):
    """Contracting joined key parts with ':'; canonical list encoding is injective."""
    r = deploy_run(host, "storage.set('a:b', 1)\nstorage.set(('a', 'b'), 2)\n"
                         "storage.set(('a:b',), 3)\nstorage.set(['a', 'b', ''], 4)")
    keys = [w[1] for w in r.writes]
    assert len(set(keys)) == 4
    assert codec.encode("a:b") in keys and codec.encode(["a", "b"]) in keys


def test_contracts_cannot_touch_each_others_storage(host):
    host.deploy("victim", "@export\ndef put():\n    storage.set('bal', 100)\n")
    host.call("victim", "put")
    r = deploy_run(host, "storage.set('bal', 0)\nreturn storage.get('bal')")
    assert r.ok and r.writes == (("evil", codec.encode("bal"), codec.encode(0)),)
    assert host.state[("victim", codec.encode("bal"))] == codec.encode(100)


def test_interpreter_state_untouched_after_corpus(host):
    limit = sys.getrecursionlimit()
    for _, body, _ in RUNTIME[:-1]:
        deploy_run(host, body)
    assert sys.getrecursionlimit() == limit
    assert len([1, 2]) == 2 and sorted([2, 1]) == [1, 2]
    assert deploy_run(host, "return len([1, 2])").value == 2
