"""The runtime of a read-only query: gas as usual, plus a wall-clock deadline.

Queries are not consensus, so they may be cut by time (a transaction never is: gas alone
decides it, identically on every node). The check rides on the meter: every 256th charge
compares time.monotonic() with the deadline, which costs nothing measurable, and every loop
iteration, comprehension item and guarded native charges, so no contract code runs long
between two checks (a single native operation is bounded by its own gas price).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chainnode.vm.api import CallContext, CompiledContract, Host
from chainnode.vm.errors import QueryDeadline
from chainnode.vm.runtime import Runtime


class DeadlineRuntime(Runtime):
    def __init__(self, host: Host, ctx: CallContext, gas_limit: int,
                 load_program: Callable[[CompiledContract], Any], deadline: float) -> None:
        self.deadline = deadline
        self.ticks = 0
        super().__init__(host, ctx, gas_limit, load_program)

    def charge(self, cost: int) -> bool:
        self.ticks += 1
        if not self.ticks & 255 and time.monotonic() > self.deadline:
            raise QueryDeadline()
        return super().charge(cost)
