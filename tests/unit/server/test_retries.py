"""Which download failures are worth another host (pure)."""

import pytest

from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.templates.retries import is_worth_another_host


@pytest.mark.parametrize(
    "code",
    [
        None,
        ErrorCode.SOURCE_UNAVAILABLE,
        ErrorCode.TIMEOUT,
        ErrorCode.DNS_FAILURE,
        ErrorCode.TLS_FAILURE,
        ErrorCode.POOL_UNAVAILABLE,
        ErrorCode.INTERNAL,
    ],
)
def test_another_host_may_help(code: ErrorCode | None) -> None:
    assert is_worth_another_host(code)


@pytest.mark.parametrize(
    "code",
    [
        ErrorCode.SOURCE_NOT_FOUND,
        ErrorCode.SOURCE_DENIED,
        ErrorCode.CHECKSUM_MISMATCH,
        ErrorCode.IMAGE_REJECTED,
        ErrorCode.UNSUPPORTED_URL,
        ErrorCode.BAD_COMMAND,
        ErrorCode.POOL_FULL,
        ErrorCode.CANCELLED,
    ],
)
def test_another_host_would_fail_the_same_way(code: ErrorCode) -> None:
    assert not is_worth_another_host(code)
