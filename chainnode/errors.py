"""Error codes shared by the mempool, executor, RPC and SDK.

Every rejection carries a stable code (machine-readable, identical on every node) and a human
message. RPC maps codes to HTTP statuses via HTTP_STATUS.
"""

from __future__ import annotations


class ChainError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_json(self) -> dict:
        return {"code": self.code, "message": self.message}


# tx admission
TX_MALFORMED = "TX_MALFORMED"
TX_TOO_LARGE = "TX_TOO_LARGE"
TX_WRONG_CHAIN = "TX_WRONG_CHAIN"
TX_BAD_SIGNATURE = "TX_BAD_SIGNATURE"
TX_EXPIRED = "TX_EXPIRED"
TX_EXPIRY_TOO_FAR = "TX_EXPIRY_TOO_FAR"
TX_REPLAY = "TX_REPLAY"
TX_DUPLICATE = "TX_DUPLICATE"
TX_NOT_MEMBER = "TX_NOT_MEMBER"
TX_GAS_LIMIT = "TX_GAS_LIMIT"
MEMPOOL_FULL = "MEMPOOL_FULL"
SENDER_QUOTA = "SENDER_QUOTA"
NOT_FOUND = "NOT_FOUND"
BAD_REQUEST = "BAD_REQUEST"
TIMEOUT = "TIMEOUT"
UNAVAILABLE = "UNAVAILABLE"
STATE_PRUNED = "STATE_PRUNED"  # state (a proof) at a height this node has pruned

HTTP_STATUS = {
    TX_MALFORMED: 400, TX_TOO_LARGE: 413, TX_WRONG_CHAIN: 400, TX_BAD_SIGNATURE: 401,
    TX_EXPIRED: 400, TX_EXPIRY_TOO_FAR: 400, TX_REPLAY: 409, TX_DUPLICATE: 409,
    TX_NOT_MEMBER: 403, TX_GAS_LIMIT: 400, MEMPOOL_FULL: 429, SENDER_QUOTA: 429,
    NOT_FOUND: 404, BAD_REQUEST: 400, TIMEOUT: 504, UNAVAILABLE: 503,
    STATE_PRUNED: 410,
}


# process exit codes of `chainnode start` (operators' supervisors key on these)
EXIT_STORAGE_FAILURE = 74  # sysexits EX_IOERR: a store or WAL write failed; restart after fixing the disk
