"""Per-execution runtime: one object combining the meter and guards, the builtins, the host
API and the method handlers.

One Runtime serves one `execute()` (a transaction's call, including its cross-contract calls)
and is dropped afterwards, so nothing mutable outlives a transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainnode.vm.api import CallContext, CompiledContract, Event, Host
from chainnode.vm.guards import Guards
from chainnode.vm.hostapi import Frame, HostAPI, bind_check
from chainnode.vm.hostobjs import TypeProxy
from chainnode.vm.methods import METHODS, Methods
from chainnode.vm.roles import RoleAPI
from chainnode.vm.safe_builtins import Builtins

__all__ = ["METHODS", "Frame", "Runtime", "bind_check"]


class Runtime(Guards, Builtins, HostAPI, RoleAPI, Methods):
    def __init__(self, host: Host, ctx: CallContext, gas_limit: int,
                 load_program: Callable[[CompiledContract], Any]) -> None:
        self.left = gas_limit
        self.depth = 0
        self.cross_depth = 0
        self.nodes = 0  # node count of the last walk(), for codec pricing
        self.rep_width = 1  # widest char the repr of the last walk()ed value can keep
        self.hashes: dict[bytes, list] = {}  # hash -> distinct int/tuple keys seen
        self.mem = 0  # bytes produced through the guards, against MAX_TX_MEMORY
        self.modules: list[dict[str, Any]] = []  # globals of every module instance
        self.host = host
        self.ctx = ctx
        self.load_program = load_program
        self.writes: dict[tuple[str, bytes], bytes | None] = {}
        self.events: list[Event] = []
        self.builtins = self._make_builtins()

    def close(self) -> None:
        """Break the reference cycles (module globals <-> functions, runtime <-> builtins) so
        a call's memory is released at once rather than at the next cyclic GC."""
        for g in self.modules:
            g.clear()
        self.modules.clear()
        self.builtins.clear()
        self.hashes.clear()

    def _make_builtins(self) -> dict[str, Any]:
        return {
            # guards called by rewritten code
            "_vm_g": self.charge,
            "_vm_enter": self.enter,
            "_vm_leave": self.leave,
            "_vm_attr": self.attr,
            "_vm_meth": self.meth,
            "_vm_key": self.key,
            "_vm_slice": self.slice,
            "_vm_fstr": self.fstr,
            "_vm_add": self.add,
            "_vm_iadd": self.iadd,
            "_vm_sub": self.sub,
            "_vm_mul": self.mul,
            "_vm_pow": self.pow,
            "_vm_lshift": self.lshift,
            "_vm_mod": self.mod,
            "_vm_floordiv": self.floordiv,
            "_vm_delitem": self.delitem,
            "_vm_or": self.or_,
            "_vm_ior": self.ior,
            "_vm_eq": self.eq,
            "_vm_ne": self.ne,
            "_vm_lt": self.lt,
            "_vm_le": self.le,
            "_vm_gt": self.gt,
            "_vm_ge": self.ge,
            "_vm_in": self.contains,
            "_vm_notin": self.not_contains,
            "_vm_band": self.band,
            "_vm_bxor": self.bxor,
            "_vm_rshift": self.rshift,
            "_vm_neg": self.neg,
            "_vm_inv": self.invert,
            "_vm_iter": self.comp_iter,
            # host API shared by all contracts of this execution
            "export": _decorator_stub,
            "view": _decorator_stub,
            "require": self.require,
            "has_role": self.has_role,
            "div_half_up": self.div_half_up,
            "muldiv": self.muldiv,
            "isqrt": self.isqrt,
            "pow10": self.pow10,
            "sm3": self.sm3,
            # builtins
            "len": len,
            "range": TypeProxy(range, self.b_range),
            "abs": self.b_abs,
            "divmod": self.b_divmod,
            "hex": self.b_hex,
            "ord": ord,
            "chr": chr,
            "bool": TypeProxy(bool, self.b_bool),
            "enumerate": self.b_enumerate,
            "zip": self.b_zip,
            "reversed": self.b_reversed,
            "min": self.b_min,
            "max": self.b_max,
            "sum": self.b_sum,
            "sorted": self.b_sorted,
            "any": self.b_any,
            "all": self.b_all,
            "round": self.b_round,
            "isinstance": self.b_isinstance,
            "int": TypeProxy(int, self.b_int),
            "str": TypeProxy(str, self.to_str),
            "bytes": TypeProxy(bytes, self.b_bytes),
            "list": TypeProxy(list, self.b_list),
            "tuple": TypeProxy(tuple, self.b_tuple),
            "dict": TypeProxy(dict, self.b_dict),
        }


def _decorator_stub(fn: Any) -> Any:
    return fn
