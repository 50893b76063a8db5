import pytest

from kvmcloud.agent.downloads.mirrors import (
    SWITCH_FACTOR,
    another_mirror_may_help,
    average_rate,
    faster_mirror,
    live_mirrors,
    next_mirror,
    steady_rate,
    worth_sampling,
)
from kvmcloud.protocol.error_codes import ErrorCode

A, B, C = "http://a.example/t.raw", "http://b.example/t.raw", "nfs://c.example/e/t.raw"
MIRRORS = (A, B, C)
MIB = 1024 * 1024


# next_mirror -----------------------------------------------------------------------------


def test_next_mirror_follows_the_metalink_order():
    assert next_mirror(MIRRORS, preferred=None, dead=set(), tried=set(), piece=0) == A


def test_next_mirror_skips_dead_mirrors():
    assert next_mirror(MIRRORS, preferred=None, dead={A}, tried=set(), piece=0) == B


def test_next_mirror_skips_a_mirror_only_for_the_piece_it_failed():
    tried = {(A, 3)}

    assert next_mirror(MIRRORS, preferred=None, dead=set(), tried=tried, piece=3) == B
    assert next_mirror(MIRRORS, preferred=None, dead=set(), tried=tried, piece=4) == A


def test_next_mirror_puts_the_preferred_mirror_first():
    assert next_mirror(MIRRORS, preferred=C, dead=set(), tried=set(), piece=0) == C


def test_next_mirror_passes_over_a_preferred_mirror_that_died_meanwhile():
    assert next_mirror(MIRRORS, preferred=C, dead={C}, tried=set(), piece=0) == A


def test_next_mirror_is_none_when_every_mirror_is_dead_or_tried():
    assert next_mirror(MIRRORS, preferred=B, dead={A, C}, tried={(B, 1)}, piece=1) is None


# failover ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        ErrorCode.CANCELLED,
        ErrorCode.IMAGE_REJECTED,
        ErrorCode.POOL_FULL,
        ErrorCode.POOL_UNAVAILABLE,
        ErrorCode.BAD_COMMAND,
    ],
)
def test_failures_of_the_image_pool_or_command_do_not_fail_over(code):
    assert not another_mirror_may_help(code)


@pytest.mark.parametrize(
    "code",
    [
        ErrorCode.SOURCE_UNAVAILABLE,
        ErrorCode.SOURCE_NOT_FOUND,
        ErrorCode.SOURCE_DENIED,
        ErrorCode.DNS_FAILURE,
        ErrorCode.TLS_FAILURE,
        ErrorCode.TIMEOUT,
        ErrorCode.CHECKSUM_MISMATCH,
        ErrorCode.UNSUPPORTED_URL,
    ],
)
def test_failures_of_a_mirror_fail_over(code):
    assert another_mirror_may_help(code)


def test_live_mirrors_keep_the_metalink_order():
    assert live_mirrors(MIRRORS, {B}) == [A, C]
    assert live_mirrors(MIRRORS, set(MIRRORS)) == []


# when to sample ---------------------------------------------------------------------------


def test_a_large_vouched_file_with_two_live_mirrors_is_worth_sampling():
    assert worth_sampling([A, B], vouched=True, size_bytes=128 * MIB, min_file_bytes=128 * MIB)


@pytest.mark.parametrize(
    ("live", "vouched", "size_bytes"),
    [
        ([A], True, 1024 * MIB),  # nothing to choose between
        ([A, B], False, 1024 * MIB),  # no hash would catch a bad join of two mirrors' bytes
        ([A, B], True, None),  # size unknown
        ([A, B], True, 128 * MIB - 1),  # too small to be worth it
    ],
)
def test_sampling_is_skipped_when_it_cannot_pay_off(live, vouched, size_bytes):
    assert not worth_sampling(
        live, vouched=vouched, size_bytes=size_bytes, min_file_bytes=128 * MIB
    )


# rates ------------------------------------------------------------------------------------


def test_average_rate_counts_everything_since_the_start():
    assert average_rate(8 * MIB, 2.0) == 4 * MIB


def test_average_rate_stays_finite_when_no_time_has_passed():
    assert average_rate(1000, 0.0) == 1000 / 1e-6


def test_steady_rate_leaves_out_the_first_read():
    # 1 MiB came with the connection at t=10; 4 MiB more in the next 2 s.
    rate = steady_rate(first_at=10.0, first_bytes=MIB, last_at=12.0, received_bytes=5 * MIB)

    assert rate == 2 * MIB


@pytest.mark.parametrize(("first_at", "last_at"), [(None, 0.0), (10.0, 10.0)])
def test_steady_rate_is_zero_until_two_reads_arrived(first_at, last_at):
    assert steady_rate(first_at=first_at, first_bytes=MIB, last_at=last_at, received_bytes=MIB) == 0


# when to move -----------------------------------------------------------------------------


def test_a_mirror_more_than_twice_as_fast_is_moved_to():
    assert SWITCH_FACTOR == 2.0
    assert faster_mirror({A: 10.0, B: 20.1}, A, 10.0) == B


def test_a_mirror_only_twice_as_fast_is_not_worth_the_move():
    assert faster_mirror({A: 10.0, B: 20.0}, A, 10.0) is None


def test_no_move_when_the_current_mirror_is_the_fastest():
    assert faster_mirror({A: 100.0, B: 20.0}, A, 100.0) is None


def test_a_sample_still_running_is_compared_by_what_it_delivered_so_far():
    # The current mirror's sample is not done: only B's rate is known.
    assert faster_mirror({B: 50.0}, A, 10.0) == B
    assert faster_mirror({B: 50.0}, A, 30.0) is None


def test_the_fastest_is_moved_to_and_the_first_listed_wins_a_tie():
    assert faster_mirror({A: 1.0, B: 90.0, C: 90.0}, A, 1.0) == B
    assert faster_mirror({A: 1.0, C: 90.0, B: 90.0}, A, 1.0) == C


def test_a_mirror_that_delivered_nothing_is_not_moved_to():
    assert faster_mirror({A: 0.0, B: 0.0}, C, 0.0) is None
