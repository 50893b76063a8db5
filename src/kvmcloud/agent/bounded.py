"""run_bounded(): run a call that may block forever in a worker thread, and stop waiting.

A ``stat`` on a hung NFS mount sleeps in the kernel (D state) and cannot be interrupted,
so no timeout can be set on the call itself: the caller waits for a daemon thread a
bounded time and gives up, leaving the thread behind. The thread ends when the call
returns (when the server answers again), or with the process.
"""

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class CallTimedOutError(Exception):
    """The call did not return in time; it may still be running in its thread."""


def run_bounded(work: Callable[[], T], *, timeout_s: float, name: str) -> T:
    """Return ``work()``, or raise CallTimedOutError after ``timeout_s`` seconds.

    Exceptions of ``work`` are raised in the caller.

    Raises:
        CallTimedOutError: ``work`` still runs after ``timeout_s``.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise CallTimedOutError(f"{name} did not return within {timeout_s:g} s")
    if failure:
        raise failure[0]
    return outcome[0]
