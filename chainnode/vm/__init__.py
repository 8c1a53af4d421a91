"""The contract VM: restricted Python, checked at deploy, metered and guarded at run time.

See docs/contracts.md for the language, the host API, the gas table and the error codes.
"""

from chainnode.vm.api import CallContext, CompiledContract, Event, ExecResult, Host
from chainnode.vm.errors import ContractRejected
from chainnode.vm.gas import GAS
from chainnode.vm.machine import compile_contract, execute

__all__ = [
    "GAS",
    "CallContext",
    "CompiledContract",
    "ContractRejected",
    "Event",
    "ExecResult",
    "Host",
    "compile_contract",
    "execute",
]
