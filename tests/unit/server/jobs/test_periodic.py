import logging
from collections.abc import Callable

import pytest

from kvmcloud.server.jobs.periodic import PeriodicTask, Scheduler, due_tasks


def noop() -> None:
    pass


def task(name: str, interval_s: float = 10.0, run: Callable[[], None] = noop) -> PeriodicTask:
    return PeriodicTask(name=name, interval_s=lambda: interval_s, run=run)


A, B, C = task("a"), task("b"), task("c")


def names(tasks: list[PeriodicTask]) -> list[str]:
    return [t.name for t in tasks]


# --- due_tasks ----------------------------------------------------------------------------


def test_first_run_is_due():
    assert names(due_tasks([A, B], {"a": 10, "b": 10}, {}, now=0.0)) == ["a", "b"]


def test_interval_not_elapsed():
    assert due_tasks([A], {"a": 10}, {"a": 100.0}, now=109.999) == []


def test_interval_elapsed_exactly():
    assert names(due_tasks([A], {"a": 10}, {"a": 100.0}, now=110.0)) == ["a"]


def test_only_elapsed_tasks_are_due():
    due = due_tasks([A, B, C], {"a": 10, "b": 60, "c": 5}, {"a": 0.0, "b": 0.0}, now=30.0)

    assert names(due) == ["a", "c"]


@pytest.mark.parametrize("interval", [0, 0.0, -5])
def test_interval_zero_or_negative_disables(interval):
    assert due_tasks([A], {"a": interval}, {}, now=1000.0) == []


def test_task_without_interval_is_disabled():
    assert due_tasks([A], {}, {}, now=1000.0) == []


# --- Scheduler.tick -----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_tick_runs_due_tasks_by_the_clock():
    clock = FakeClock()
    runs: list[tuple[str, float]] = []
    tasks = [
        task("fast", 10, lambda: runs.append(("fast", clock.now))),
        task("slow", 30, lambda: runs.append(("slow", clock.now))),
    ]
    scheduler = Scheduler(tasks, tick_s=1.0, clock=clock)

    for now in (1000, 1005, 1010, 1020, 1029, 1030):
        clock.now = float(now)
        scheduler.tick()

    assert runs == [
        ("fast", 1000),
        ("slow", 1000),
        ("fast", 1010),
        ("fast", 1020),
        ("fast", 1030),
        ("slow", 1030),
    ]


def test_interval_is_read_anew_each_tick():
    clock = FakeClock()
    interval = {"value": 0.0}
    runs: list[float] = []
    scheduler = Scheduler(
        [PeriodicTask("t", lambda: interval["value"], lambda: runs.append(clock.now))],
        tick_s=1.0,
        clock=clock,
    )

    scheduler.tick()  # disabled
    interval["value"] = 5.0
    clock.now += 1
    scheduler.tick()  # enabled now: first run
    clock.now += 5
    scheduler.tick()

    assert runs == [1001.0, 1006.0]


def test_tick_survives_a_failing_task(caplog):
    clock = FakeClock()
    runs: list[str] = []

    def boom() -> None:
        runs.append("boom")
        raise RuntimeError("kaput")

    scheduler = Scheduler(
        [task("boom", 10, boom), task("ok", 10, lambda: runs.append("ok"))],
        tick_s=1.0,
        clock=clock,
    )

    with caplog.at_level(logging.ERROR, logger="kvmcloud.server.jobs.periodic"):
        scheduler.tick()
        clock.now += 1
        scheduler.tick()  # a failed task waits for its interval like any other
        clock.now += 9
        scheduler.tick()

    assert runs == ["boom", "ok", "boom", "ok"]
    assert "periodic task boom failed" in caplog.text


def test_tick_survives_a_failing_interval(caplog):
    def bad_interval() -> float:
        raise ValueError("setting unreadable")

    runs: list[str] = []
    scheduler = Scheduler(
        [
            PeriodicTask("bad", bad_interval, lambda: runs.append("bad")),
            task("ok", 10, lambda: runs.append("ok")),
        ],
        tick_s=1.0,
        clock=FakeClock(),
    )

    with caplog.at_level(logging.ERROR, logger="kvmcloud.server.jobs.periodic"):
        scheduler.tick()

    assert runs == ["ok"]
    assert "periodic task bad: could not read its interval" in caplog.text


# --- the gate (several management servers) -----------------------------------------------


def test_gate_refusal_skips_the_task_until_its_next_interval():
    ran: list[str] = []
    asked: list[tuple[str, float]] = []
    now = [0.0]

    def gate(name: str, interval_s: float) -> bool:
        asked.append((name, interval_s))
        return False

    scheduler = Scheduler(
        [task("a", 10.0, lambda: ran.append("a"))], tick_s=1.0, clock=lambda: now[0], gate=gate
    )
    scheduler.tick()
    now[0] = 5.0
    scheduler.tick()
    assert ran == [] and asked == [("a", 10.0)]
    now[0] = 10.0
    scheduler.tick()
    assert asked == [("a", 10.0), ("a", 10.0)]


def test_gate_acceptance_runs_shared_tasks_and_local_tasks_skip_it():
    ran: list[str] = []
    asked: list[str] = []

    def gate(name: str, interval_s: float) -> bool:
        asked.append(name)
        return True

    shared = task("shared", 10.0, lambda: ran.append("shared"))
    local = PeriodicTask("local", lambda: 10.0, lambda: ran.append("local"), shared=False)
    Scheduler([shared, local], tick_s=1.0, clock=lambda: 0.0, gate=gate).tick()
    assert sorted(ran) == ["local", "shared"] and asked == ["shared"]


def test_a_failing_gate_does_not_stop_other_tasks(caplog):
    ran: list[str] = []

    def gate(name: str, interval_s: float) -> bool:
        if name == "a":
            raise RuntimeError("database gone")
        return True

    tasks = [task("a", 10.0, lambda: ran.append("a")), task("b", 10.0, lambda: ran.append("b"))]
    with caplog.at_level(logging.ERROR):
        Scheduler(tasks, tick_s=1.0, clock=lambda: 0.0, gate=gate).tick()
    assert ran == ["b"] and "database gone" in caplog.text
