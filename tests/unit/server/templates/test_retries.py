"""Which hosts a download is tried on, and which failures are worth another host (pure)."""

import pytest

from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.templates.retries import hosts_to_try, is_worth_another_host


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
        ErrorCode.EGRESS_REFUSED,
    ],
)
def test_another_host_would_fail_the_same_way(code: ErrorCode) -> None:
    assert not is_worth_another_host(code)


def test_the_destination_host_is_tried_first_then_the_others_by_id() -> None:
    assert hosts_to_try([4, 2, 7, 3], destination_host_id=7, max_attempts=4) == [7, 2, 3, 4]


def test_without_a_destination_hosts_are_tried_by_id() -> None:
    assert hosts_to_try([4, 2, 7], destination_host_id=None, max_attempts=3) == [2, 4, 7]


def test_a_destination_that_does_not_reach_the_pool_is_not_tried() -> None:
    assert hosts_to_try([4, 2], destination_host_id=9, max_attempts=3) == [2, 4]


def test_each_host_is_tried_once() -> None:
    assert hosts_to_try([2, 2, 3, 2], destination_host_id=3, max_attempts=5) == [3, 2]


def test_at_most_max_attempts_hosts_are_tried() -> None:
    assert hosts_to_try([1, 2, 3, 4], destination_host_id=3, max_attempts=2) == [3, 1]
    assert hosts_to_try([1, 2, 3], destination_host_id=None, max_attempts=1) == [1]
