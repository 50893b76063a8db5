"""Which hosts a download to a pool is tried on, in which order, and when to stop (pure)."""

from collections.abc import Iterable

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
        # The zone's egress policy refused the source: every host of the zone applies it.
        ErrorCode.EGRESS_REFUSED,
    }
)


def hosts_to_try(
    host_ids: Iterable[int], *, destination_host_id: int | None, max_attempts: int
) -> list[int]:
    """Return the hosts to ask in turn: each once, the destination host first, then by id.

    ``host_ids`` are the Up hosts that reach the pool; the destination is the host a VM will
    run on, if any. At most ``max_attempts`` (direct.download.max.attempts) are returned:
    distinct hosts, not CloudStack's host0, host1, host1 (reference section 9, item 2).
    """
    ordered = sorted(set(host_ids), key=lambda host_id: (host_id != destination_host_id, host_id))
    return ordered[:max_attempts]


def is_worth_another_host(code: ErrorCode | None) -> bool:
    """Tell whether a failed download may succeed on another host that reaches the pool.

    ``None`` stands for "the agent could not be reached": another host may well be fine.
    Network trouble, time-outs, DNS, TLS (each host has its own certificate store) and
    host-local faults are worth another host; faults of the source or the image are not.
    """
    return code is None or code not in _FINAL
