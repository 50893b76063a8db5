"""PeriodicTask and due_tasks(tasks, last_runs, now) — pure; the Scheduler loop with its gate."""

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

# Asked before a due task runs: (task name, interval in s) → whether this server runs it.
# Several management servers share one schedule through it (a row per task in the
# database); without one, every due task runs here.
Gate = Callable[[str, float], bool]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PeriodicTask:
    """Work to run every ``interval_s`` seconds; ``interval_s`` is read anew each tick.

    ``shared`` tasks run on one management server at a time (through the Scheduler's
    gate); the others run on every server.
    """

    name: str
    interval_s: Callable[[], float]
    run: Callable[[], None]
    shared: bool = True


def due_tasks(
    tasks: Sequence[PeriodicTask],
    intervals: Mapping[str, float],
    last_runs: Mapping[str, float],
    now: float,
) -> list[PeriodicTask]:
    """Return the tasks whose interval has passed since their last run (0 disables a task)."""
    due = []
    for task in tasks:
        interval = intervals.get(task.name, 0.0)
        if interval <= 0:
            continue
        last = last_runs.get(task.name)
        if last is None or now - last >= interval:
            due.append(task)
    return due


class Scheduler:
    """Runs periodic tasks on one thread until stopped."""

    def __init__(
        self,
        tasks: Sequence[PeriodicTask],
        *,
        tick_s: float,
        clock: Callable[[], float] = time.monotonic,
        gate: Gate | None = None,
    ) -> None:
        self._tasks = tasks
        self._tick_s = tick_s
        self._clock = clock
        self._gate = gate
        self._last_runs: dict[str, float] = {}

    def tick(self) -> None:
        """Run every task that is due now."""
        intervals = {}
        for task in self._tasks:
            try:
                intervals[task.name] = task.interval_s()
            except Exception:
                logger.exception("periodic task %s: could not read its interval", task.name)
        now = self._clock()
        for task in due_tasks(self._tasks, intervals, self._last_runs, now):
            self._last_runs[task.name] = now
            try:
                gate = self._gate if task.shared else None
                if gate is not None and not gate(task.name, intervals[task.name]):
                    continue  # another server runs it this time
                task.run()
            except Exception:
                logger.exception("periodic task %s failed", task.name)

    def run_forever(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set."""
        while not stop.is_set():
            self.tick()
            stop.wait(self._tick_s)
