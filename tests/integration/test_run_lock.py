"""held_run_lock: KVMCLOUD_TEST_LOCK's file is held exclusively, waited for, or ignored unset."""

import fcntl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.run_lock import (
    RunLockTimeoutError,
    held_run_lock,
    lock_path_from_env,
)

# Holds an exclusive flock on argv[1] and says so, until its stdin closes.
_HOLDER = """
import fcntl, sys
f = open(sys.argv[1], "a")
fcntl.flock(f.fileno(), fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def is_locked(path: Path) -> bool:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


def test_the_path_comes_from_the_environment() -> None:
    assert lock_path_from_env({}) is None
    assert lock_path_from_env({"KVMCLOUD_TEST_LOCK": ""}) is None
    assert lock_path_from_env({"KVMCLOUD_TEST_LOCK": "/work/e2e.lock"}) == Path("/work/e2e.lock")


def test_unset_holds_nothing() -> None:
    with held_run_lock(None):
        pass


def test_the_file_is_created_and_locked_for_the_block_only(tmp_path: Path) -> None:
    path = tmp_path / "libvirt.lock"

    with held_run_lock(path):
        assert path.exists()
        assert is_locked(path)
    assert not is_locked(path)


def test_a_lock_held_elsewhere_is_waited_for_then_the_wait_gives_up(tmp_path: Path) -> None:
    path = tmp_path / "libvirt.lock"
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            time.sleep(0.01)

        try:
            with (
                pytest.raises(RunLockTimeoutError, match="stayed locked"),
                held_run_lock(path, timeout_s=0.3, sleep=sleep),
            ):
                pass
            assert waits  # it polled rather than failing at once
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(timeout=10)
    # Once the holder is gone, the lock is ours.
    with held_run_lock(path, timeout_s=0.3):
        assert is_locked(path)
