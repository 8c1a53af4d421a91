"""The gas table and the hard size limits of the VM.

Gas is a resource bound, not a fee: it must grow with the CPU time and memory a call can use,
so a block's worst case is predictable. The rewriter charges statically counted AST nodes at
function entry, per loop iteration and per comprehension item; the runtime guards charge for
work whose cost depends on data (copying, comparing, hashing, storage). One unit is roughly one
simple bytecode-level operation. docs/contracts.md explains every entry.
"""

from __future__ import annotations

from types import MappingProxyType

GAS = MappingProxyType(
    {
        # control flow (the rewriter adds NODE * static node count of the charged region)
        "call": 500,  # every execute() and every cross-contract call, before anything runs
        "module": 20,  # instantiating a contract module (+ nodes of its top-level code)
        "fn_entry": 10,  # every contract function call (+ nodes of its straight-line body)
        "loop_iter": 2,  # every loop iteration (+ nodes of the loop body)
        "comp_item": 3,  # every comprehension item (+ nodes of element and filters)
        "dict_item": 4,  # extra per dict-comprehension item (the new table entry)
        "node": 1,  # one AST node of a charged region
        "display": 4,  # extra per list/tuple/dict display (a new container object)
        "fn_def": 10,  # every function object made when a module is instantiated
        "code_load": 1,  # per 8 source bytes of every contract loaded for a call
        "attr_bind": 20,  # taking a method as a value (a new closure)
        # data-dependent work done by guards
        "op": 1,  # a guarded operator or builtin call
        "item": 2,  # one element copied or produced
        "chunk": 4,  # 64 bytes of str/bytes copied or produced
        "scan": 1,  # 16 bytes of str/bytes searched (find, count, in, split, replace...)
        "pairs": 1,  # 128 (position, needle char) pairs of a search that can be quadratic
        "mem": 1,  # 16 bytes of memory produced (str, bytes, ints, containers, entries)
        "limb2": 2,  # big-int multiply/divide: per 16 products of 64-bit limbs
        "walk": 4,  # start of a deep visit (compare, format, hash of a tuple, encode)
        "walk_node": 3,  # one node of a deep visit
        "codec_node": 4,  # one node encoded or decoded by the canonical codec
        "sort_factor": 2,  # sorting n items costs n * bit_length(n) * this
        # host API
        "storage_read": 200,
        "storage_write": 400,
        "storage_delete": 200,
        "storage_byte_read": 1,  # per key+value byte read
        "decode_byte": 5,  # per stored byte of a list/dict value decoded (a node per byte)
        "storage_byte_write": 5,  # per key+value byte written
        "event": 200,
        "event_byte": 2,
        "has_role": 300,
        "sm3": 50,
        "sm3_chunk": 8,  # per 64 bytes hashed
        "cross_call": 500,  # plus "call" and argument/return copying
    }
)

# Deploy-time limits.
MAX_SOURCE_BYTES = 64 * 1024
MAX_AST_NODES = 30_000
MAX_AST_DEPTH = 64

# Runtime limits. Exceeding one is VM_SIZE_LIMIT (or VM_CALL_DEPTH for the depths).
MAX_INT_BITS = 2048  # every int a guard produces; 617 decimal digits
MAX_INT_STR = 640  # chars accepted by int(str) for non power-of-two bases (<= CPython's floor)
MAX_STR_LEN = 1 << 20  # chars of a str, bytes of a bytes
MAX_COLLECTION_LEN = 100_000  # items of a list, tuple or dict built by a guard
MAX_WALK_DEPTH = 32  # nesting depth for deep compare/format/hash of in-memory values
MAX_CALL_DEPTH = 64  # contract function frames, across contracts
MAX_CROSS_DEPTH = 8  # nested cross-contract calls
MAX_KEY_BYTES = 256  # encoded storage key
MAX_KEY_PARTS = 8  # elements of a composite key
MAX_VALUE_BYTES = 64 * 1024  # encoded storage value
MAX_VALUE_DEPTH = 16  # nesting of a stored value
MAX_EVENT_BYTES = 16 * 1024  # encoded event fields
MAX_EVENTS = 256  # per execute()
MAX_IO_BYTES = 256 * 1024  # encoded arguments or return value
MAX_MESSAGE_LEN = 256  # error messages are truncated to this
MAX_NAME_LEN = 64  # event names, Map prefixes
MAX_NEEDLE_SET = 64  # entries of a startswith/endswith tuple, isinstance tuple, zip arguments
MAX_STRIP_CHARS = 256  # chars argument of strip/lstrip/rstrip
MAX_RANGE_INT = 1 << 63  # range() bounds: every produced int stays small
MAX_TX_MEMORY = 256 * 1024 * 1024  # bytes one execute() may produce through its guards

# Memory: 16 bytes produced cost one "mem" gas unit; with every other charge on top, the
# calibration corpus stays at or below BYTES_PER_GAS bytes of peak memory per gas unit.
BYTES_PER_GAS = 20
