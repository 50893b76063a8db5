"""is_worth_another_host(): which download failures another host could fix (pure)."""

from kvmcloud.protocol.error_codes import ErrorCode

# Failures of the source, the image or the request itself: every host would meet them
# again (CloudStack re-downloaded checksum mismatches three times on the same host).
_FINAL = frozenset(
    {
        ErrorCode.SOURCE_NOT_FOUND,
        ErrorCode.SOURCE_DENIED,
        ErrorCode.CHECKSUM_MISMATCH,
        ErrorCode.IMAGE_REJECTED,
        ErrorCode.UNSUPPORTED_URL,
        ErrorCode.BAD_COMMAND,
        ErrorCode.CANCELLED,
        # A full pool is full for every host that reaches it.
        ErrorCode.POOL_FULL,
    }
)


def is_worth_another_host(code: ErrorCode | None) -> bool:
    """Tell whether a failed download may succeed on another host that reaches the pool.

    ``None`` stands for "the agent could not be reached": another host may well be fine.
    Network trouble, time-outs, DNS, TLS (each host has its own certificate store) and
    host-local faults are worth another host; faults of the source or the image are not.
    """
    return code is None or code not in _FINAL
