"""Download percent, progress writes, rate, ETA and failed attempts from plain values."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from kvmcloud.server.templates.download_status import (
    MAX_FAILURES,
    PROGRESS_INTERVAL_S,
    REASON_CHARS,
    FailedAttempt,
    Throughput,
    failed_attempts,
    is_worth_writing,
    percent_of,
    throughput,
    with_failure,
)

START = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("done", "total", "percent"),
    [(0, 1000, 0), (499, 1000, 49), (1000, 1000, 99), (10, None, 0), (10, 0, 0)],
)
def test_percent_stays_below_100_until_ready_and_is_0_when_the_size_is_unknown(
    done: int, total: int | None, percent: int
) -> None:
    assert percent_of(done, total) == percent


def test_the_first_report_and_each_new_percentage_are_written() -> None:
    first = is_worth_writing(
        percent=0, written_percent=None, done=0, written_done=None, since_written_s=None
    )
    assert first
    assert is_worth_writing(
        percent=1, written_percent=0, done=10, written_done=5, since_written_s=0.1
    )


def test_the_same_percentage_is_written_again_only_after_the_interval_with_new_bytes() -> None:
    def worth(done: int, since_s: float) -> bool:
        return is_worth_writing(
            percent=5, written_percent=5, done=done, written_done=500, since_written_s=since_s
        )

    assert not worth(600, PROGRESS_INTERVAL_S - 0.1)
    assert worth(600, PROGRESS_INTERVAL_S)
    # Nothing arrived since the last write: nothing new to say however long it has been.
    assert not worth(500, 10 * PROGRESS_INTERVAL_S)


def test_rate_is_averaged_from_the_start_to_the_measurement_and_eta_counts_what_is_left() -> None:
    speed = throughput(done=300, total=1000, started=at(0), measured=at(3), downloading=True)
    assert speed == Throughput(rate=100, eta_s=7)


def test_eta_rounds_up_and_is_0_when_every_byte_is_in() -> None:
    assert throughput(done=3, total=10, started=at(0), measured=at(1), downloading=True) == (
        Throughput(rate=3, eta_s=3)
    )
    done = throughput(done=10, total=10, started=at(0), measured=at(2), downloading=True)
    assert done == Throughput(rate=5, eta_s=0)


@pytest.mark.parametrize(
    ("total", "downloading"),
    [(None, True), (1000, False), (100, True)],
    ids=["size unknown", "not downloading", "more received than announced"],
)
def test_no_eta_without_a_size_after_the_download_or_past_the_size(
    total: int | None, downloading: bool
) -> None:
    speed = throughput(
        done=200, total=total, started=at(0), measured=at(2), downloading=downloading
    )
    assert speed == Throughput(rate=100, eta_s=None)


@pytest.mark.parametrize(
    ("done", "started", "measured"),
    [(0, at(0), at(5)), (100, None, at(5)), (100, at(0), None), (100, at(5), at(5))],
    ids=["no byte yet", "no start", "no measurement", "no time elapsed"],
)
def test_nothing_is_computable_without_bytes_or_elapsed_time(
    done: int, started: datetime | None, measured: datetime | None
) -> None:
    speed = throughput(done=done, total=1000, started=started, measured=measured, downloading=True)
    assert speed == Throughput(None, None)


def test_failures_are_appended_in_order_and_read_back() -> None:
    recorded = with_failure(None, FailedAttempt("h-1", "kvm1", "HTTP 503"))
    recorded = with_failure(recorded, FailedAttempt(None, "kvm2", "no data for 5 s"))
    assert failed_attempts(recorded) == [
        FailedAttempt("h-1", "kvm1", "HTTP 503"),
        FailedAttempt(None, "kvm2", "no data for 5 s"),
    ]
    assert failed_attempts(None) == [] and failed_attempts("") == []


def test_failures_are_bounded_in_number_and_length() -> None:
    recorded = None
    for attempt in range(MAX_FAILURES + 5):
        recorded = with_failure(recorded, FailedAttempt(None, f"kvm{attempt}", "x" * 5000))
    kept = failed_attempts(recorded)
    assert len(kept) == MAX_FAILURES
    assert kept[0].hostname == "kvm5" and kept[-1].hostname == f"kvm{MAX_FAILURES + 4}"
    assert {len(f.reason) for f in kept} == {REASON_CHARS}
    assert len(json.loads(recorded or "[]")) == MAX_FAILURES


def test_byte_sources_round_trip_with_host_names_and_totals() -> None:
    from kvmcloud.protocol.agent_messages import ByteSource
    from kvmcloud.server.templates.download_status import (
        bytes_by_kind,
        recorded_sources,
        sources_json,
    )

    recorded = sources_json(
        [
            ByteSource(kind="peer", host_uuid="h1", bytes=5, outcome="rejected", message="bad"),
            ByteSource(kind="peer", host_uuid="h2", bytes=40, outcome="failed", message="reset"),
            ByteSource(kind="origin", bytes=60),
        ],
        {"h1": "kvm1", "h2": "kvm2"},
    )
    sources = recorded_sources(recorded)
    assert [(s.kind, s.hostname, s.bytes, s.outcome) for s in sources] == [
        ("peer", "kvm1", 5, "rejected"),
        ("peer", "kvm2", 40, "failed"),
        ("origin", None, 60, "used"),
    ]
    assert bytes_by_kind(sources) == {"origin": 60, "peer": 40}
    assert sources_json([], {}) is None
    assert recorded_sources(None) == []
