"""held_run_lock(): an exclusive flock on the file KVMCLOUD_TEST_LOCK names, or nothing.

Tests that start, stop or drive the host's real libvirt daemons take it, so that suites
run side by side on one machine (several worktrees, the end-to-end runs) take turns
instead of stopping each other's daemons or domains. Unset, the tests run as before.

Do not also wrap the same run in ``flock FILE pytest …`` on that file: ``flock(1)`` holds
its own open file, so the lock taken here would wait for the run itself. The wait is
bounded, and the failure says so.
"""

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ENV_VAR = "KVMCLOUD_TEST_LOCK"
WAIT_TIMEOUT_S = 3600.0
_POLL_S = 0.5


class RunLockTimeoutError(RuntimeError):
    """The lock file stayed locked by another process for the whole wait."""


def lock_path_from_env(environ: dict[str, str] | None = None) -> Path | None:
    """The lock file named by KVMCLOUD_TEST_LOCK, or None when it is unset or empty."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "")
    return Path(value) if value else None


@contextlib.contextmanager
def held_run_lock(
    path: Path | None,
    *,
    timeout_s: float = WAIT_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` for the block (create the file if missing).

    None holds nothing. Waits, polling, at most ``timeout_s`` for another holder.

    Raises:
        RunLockTimeoutError: still locked by someone else after ``timeout_s``.
    """
    if path is None:
        yield
        return
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunLockTimeoutError(
                        f"{path} ({ENV_VAR}) stayed locked for {timeout_s:g} s; if this run "
                        "is itself wrapped in `flock` on that file, drop one of the two"
                    ) from None
                sleep(_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
