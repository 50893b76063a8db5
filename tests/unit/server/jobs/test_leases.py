"""Lease expiry and the resume-or-fail rule for jobs whose management server died."""

from datetime import UTC, datetime, timedelta

from kvmcloud.server.jobs.leases import (
    OrphanAction,
    decide_orphan,
    lease_expired,
    renew_interval_s,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_lease_holds_up_to_its_length():
    assert not lease_expired(T0, T0 + timedelta(seconds=30), 30)


def test_lease_expires_after_its_length():
    assert lease_expired(T0, T0 + timedelta(seconds=30.001), 30)


def test_renewal_gives_three_chances_with_a_floor():
    assert renew_interval_s(30) == 10
    assert renew_interval_s(0.3) == 0.5


def test_resumable_job_is_resumed():
    decision = decide_orphan(
        "deploy", 0, server_name="ms1:8080", resumable={"deploy"}, max_takeovers=3
    )
    assert decision.action is OrphanAction.RESUME


def test_other_jobs_fail_naming_the_server():
    decision = decide_orphan(
        "stop", 0, server_name="ms1:8080", resumable={"deploy"}, max_takeovers=3
    )
    assert decision.action is OrphanAction.FAIL
    assert "ms1:8080" in decision.reason and "run it again" in decision.reason


def test_a_job_taken_over_too_often_fails():
    assert (
        decide_orphan("deploy", 2, server_name="m", resumable={"deploy"}, max_takeovers=3).action
        is OrphanAction.RESUME
    )
    decision = decide_orphan("deploy", 3, server_name="m", resumable={"deploy"}, max_takeovers=3)
    assert decision.action is OrphanAction.FAIL
    assert "4 times" in decision.reason
