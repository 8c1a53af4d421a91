"""compile_contract and execute: the VM's two entry points.

Compiling costs ~1.5-5 µs per source byte, far more than gas could charge on every call, so
it happens once: `compile_contract` (at deploy, or when a node first loads a contract) keeps
the compiled form on the CompiledContract as a marshalled image, and every call loads it for
`code_load` gas per 8 source bytes, priced for a miss of the in-process cache of live code
objects (an unmarshal). Gas is therefore the same whatever either cache holds. Module
globals, host objects and the meter are created afresh for every call, so no contract can
leave state behind in memory for the next transaction.
"""

from __future__ import annotations

import marshal
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from types import CodeType, MappingProxyType

from chainnode import codec
from chainnode.crypto.hashing import sm3
from chainnode.vm import errtext
from chainnode.vm.api import CallContext, CompiledContract, ExecResult, Host
from chainnode.vm.checker import FunctionInfo, check_source
from chainnode.vm.deadline import DeadlineRuntime
from chainnode.vm.errors import ContractRejected, HostFailure, OutOfGas, QueryDeadline, VMError
from chainnode.vm.gas import GAS, MAX_IO_BYTES, MAX_MESSAGE_LEN
from chainnode.vm.rewriter import rewrite
from chainnode.vm.runtime import Runtime

CONTRACT_FILENAME = "<contract>"
_CACHE_SIZE = 256


@dataclass(frozen=True)
class Program:
    code_hash: bytes
    source: str
    code: CodeType
    functions: dict[str, FunctionInfo]


_cache: OrderedDict[bytes, Program] = OrderedDict()
_cache_lock = threading.Lock()


def _build(source: str) -> Program:
    checked = check_source(source)
    tree = rewrite(checked.tree)
    try:
        code = compile(tree, CONTRACT_FILENAME, "exec", dont_inherit=True, optimize=0)
    except SyntaxError as exc:
        raise ContractRejected("syntax", exc.lineno or 0, exc.offset or 0, exc.msg) from None
    except RecursionError:
        raise ContractRejected("too-complex", 0, 0, "source nests too deeply") from None
    return Program(sm3(source.encode("utf-8")), source, code, checked.functions)


def _cached(key: bytes, source: str) -> Program | None:
    with _cache_lock:
        prog = _cache.get(key)
        if prog is not None and (prog.source is source or prog.source == source):
            _cache.move_to_end(key)
            return prog
    return None


def _remember(prog: Program) -> Program:
    with _cache_lock:
        _cache[prog.code_hash] = prog
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return prog


def _program(source: str, code_hash: bytes | None = None) -> Program:
    key = code_hash if code_hash is not None else sm3(source.encode("utf-8"))
    return _cached(key, source) or _remember(_build(source))


def load_gas(contract: CompiledContract) -> int:
    """Gas of loading a contract for one call: a function of the source length only."""
    return GAS["code_load"] * ((len(contract.source) + 7) >> 3)


def compile_contract(name: str, source: str) -> CompiledContract:
    """Check and compile `source`; raise ContractRejected naming the first violated rule."""
    if type(name) is not str or not name:
        raise ContractRejected("bad-name", 0, 0, "contract name must be a non-empty str")
    prog = _program(source)
    exports = {n: f.decorator for n, f in sorted(prog.functions.items()) if f.decorator}
    init = prog.functions.get("init")
    return CompiledContract(
        name=name,
        code_hash=prog.code_hash,
        source=source,
        exports=MappingProxyType(exports),
        has_init=init is not None and not init.decorator,
        image=(marshal.dumps(prog.code), prog.functions),
    )


def _load(contract: CompiledContract) -> Program:
    """The live program of a contract: the cache, else its image, else (a contract made
    without compile_contract) a full build. The caller has already paid load_gas."""
    prog = _cached(contract.code_hash, contract.source)
    if prog is not None:
        return prog
    image = contract.image
    if image is not None:
        code = marshal.loads(image[0])
        return _remember(Program(contract.code_hash, contract.source, code, image[1]))
    try:
        return _remember(_build(contract.source))
    except ContractRejected as exc:
        raise VMError("VM_INTERNAL", f"stored contract does not compile: {exc.rule}") from None


class _Loader:
    """Per-execute loader: charges load_gas for every contract instance a call loads, the
    top-level one exactly once."""

    __slots__ = ("rt", "prepaid", "paid_for")

    def __init__(self) -> None:
        self.rt: Runtime | None = None
        self.prepaid: Program | None = None
        self.paid_for: CompiledContract | None = None

    def first(self, rt: Runtime, contract: CompiledContract) -> Program:
        self.rt = rt
        rt.charge(load_gas(contract))
        self.prepaid = _load(contract)
        self.paid_for = contract
        return self.prepaid

    def __call__(self, contract: CompiledContract) -> Program:
        # identity of the CompiledContract, never of cached objects: whether the cache held
        # this program must not change the gas
        prog = self.prepaid
        paid = contract is self.paid_for
        self.prepaid = self.paid_for = None
        if prog is not None and paid:
            return prog
        assert self.rt is not None
        self.rt.charge(load_gas(contract))
        return _load(contract)


def _clean(message: str) -> str:
    """Text of our own for a receipt: cut first, then escaped (never a regex over unbounded
    text, never anything that fails to encode)."""
    return errtext.bounded(message, MAX_MESSAGE_LEN)


def _where(exc: BaseException) -> str:
    """'contract:line: ' of the innermost contract frame, for native errors."""
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_filename == CONTRACT_FILENAME:
            where = f"{frame.f_globals.get('__vm_contract__', '?')}:{tb.tb_lineno}: "
        tb = tb.tb_next
    return where


def _failure(rt: Runtime | None, gas_limit: int, code: str, message: str) -> ExecResult:
    used = gas_limit if rt is None else min(gas_limit, max(0, gas_limit - rt.left))
    return ExecResult(False, None, used, (), (), code, message)


def execute(contract: CompiledContract, method: str, kwargs: dict, ctx: CallContext, host: Host,
            gas_limit: int, *, readonly: bool = False, is_init: bool = False,
            deadline: float | None = None, caller_kind: str = "account") -> ExecResult:
    """Run one call. Never raises for contract misbehaviour; host exceptions propagate.

    `deadline` (a time.monotonic() value) is for read-only queries only: past it the call
    fails with QUERY_TIMEOUT. Transactions never pass one (gas alone decides them).
    `caller_kind` "contract": a native contract (sys.anchor delivering a packet) is calling,
    and ctx.sender names it."""
    rt: Runtime | None = None
    try:
        if type(gas_limit) is not int or gas_limit < 0:
            raise VMError("VM_BAD_ARGS", "gas_limit must be a non-negative int")
        loader = _Loader()
        if deadline is not None:
            if not readonly:
                raise VMError("VM_BAD_ARGS", "a wall-clock deadline is for read-only calls")
            rt = DeadlineRuntime(host, ctx, gas_limit, loader, deadline)
            if time.monotonic() > deadline:  # waited in the queue past its limit
                raise QueryDeadline()
        else:
            rt = Runtime(host, ctx, gas_limit, loader)
        rt.charge(GAS["call"])
        prog = loader.first(rt, contract)
        if type(method) is not str:
            raise VMError("VM_NO_METHOD", "method must be a str")
        info = prog.functions.get(method)
        if is_init:
            if method != "init" or info is None or info.decorator:
                raise VMError("VM_NO_METHOD", "the contract has no constructor 'init'")
            kind = "export"
        else:
            kind = info.decorator if info is not None else ""
            if not kind:
                raise VMError("VM_NO_METHOD",
                              f"no exported method {errtext.operand(method)}")
        if readonly and kind == "export":
            raise VMError("VM_READONLY", f"{errtext.operand(method)} is not a @view")
        if type(kwargs) is not dict:
            raise VMError("VM_BAD_ARGS", "arguments must be a dict")
        try:
            args = rt.copy_value(kwargs, MAX_IO_BYTES)
        except VMError as exc:
            raise VMError("VM_BAD_ARGS", exc.message) from None
        value = rt.invoke(contract, contract.name, method, args, ctx.sender,
                          readonly or kind == "view", caller_kind=caller_kind)
        writes = tuple((c, k, v) for (c, k), v in sorted(rt.writes.items()))
        used = gas_limit - rt.left
        return ExecResult(True, value, used, tuple(rt.events), writes, "", "")
    except OutOfGas:
        return _failure(None, gas_limit, "VM_OUT_OF_GAS", f"out of gas (limit {gas_limit})")
    except QueryDeadline:
        return _failure(rt, gas_limit, "QUERY_TIMEOUT", "query exceeded its wall-clock limit")
    except HostFailure as exc:
        raise exc.original from None
    except VMError as exc:
        where = "" if not exc.code.startswith("VM_") else _where(exc)
        return _failure(rt, gas_limit, exc.code, _clean(where + exc.message))
    except MemoryError:
        # The per-call memory budget (VM_MEMORY_LIMIT) trips long before a node that meets
        # the documented memory requirement runs out; if this one did anyway, its result
        # would depend on the machine, so it is a node fault, never a receipt.
        raise
    except codec.CodecError as exc:
        return _failure(rt, gas_limit, "VM_VALUE_ERROR", _clean(_where(exc) + errtext.codec_text(exc)))
    except Exception as exc:
        code, text = errtext.native(exc)
        return _failure(rt, gas_limit, code, _clean(_where(exc) + text))
    finally:
        if rt is not None:
            rt.close()


__all__ = ["compile_contract", "execute"]
