"""Suite-wide fixtures: the guard on agent commands, and the libvirt run lock."""

import contextlib
import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager

import pytest

from kvmcloud.agent.host import commands
from tests.support.run_lock import RunLockTimeoutError, held_run_lock, lock_path_from_env


class CommandNotAllowedError(AssertionError):
    """A test started a program it did not declare with allow_commands."""


@pytest.fixture(autouse=True)
def _guard_commands(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``commands.run``, ``stream`` and ``feed`` refuse programs not in allow_commands."""
    marker = request.node.get_closest_marker("allow_commands")
    allowed = frozenset(marker.args) if marker is not None else frozenset()
    real_run = commands.run
    real_stream = commands.stream
    real_feed = commands.feed

    def check(argv: Sequence[str]) -> None:
        program = os.path.basename(argv[0]) if argv else ""
        if program not in allowed:
            raise CommandNotAllowedError(
                f"test tried to run {program!r}; mark it "
                f"@pytest.mark.allow_commands({program!r}) or pass a fake runner"
            )

    def guarded_run(
        argv: Sequence[str], *, timeout_s: float, input: bytes | None = None
    ) -> commands.CommandResult:
        check(argv)
        return real_run(argv, timeout_s=timeout_s, input=input)

    def guarded_stream(
        argv: Sequence[str], *, timeout_s: float
    ) -> AbstractContextManager[commands.ProcessStream]:
        check(argv)
        return real_stream(argv, timeout_s=timeout_s)

    def guarded_feed(
        argv: Sequence[str], *, timeout_s: float
    ) -> AbstractContextManager[commands.ProcessFeed]:
        check(argv)
        return real_feed(argv, timeout_s=timeout_s)

    monkeypatch.setattr(commands, "run", guarded_run)
    monkeypatch.setattr(commands, "feed", guarded_feed)
    monkeypatch.setattr(commands, "stream", guarded_stream)


_RUN_LOCK = pytest.StashKey[contextlib.ExitStack]()
_RUN_LOCK_ERROR = pytest.StashKey[Exception]()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Take the libvirt run lock before pytest-timeout starts the test's clock.

    Waiting for another run's turn at libvirt can take minutes: inside the fixture it would
    count against the 60 s per-test timeout. A failure to take it is kept for the fixture,
    which raises it as that test's error.
    """
    if "libvirt_run_lock" in getattr(item, "fixturenames", ()):
        try:
            _hold_run_lock(item.config)
        except RunLockTimeoutError as exc:
            item.config.stash[_RUN_LOCK_ERROR] = exc
    yield


def _hold_run_lock(config: pytest.Config) -> None:
    """Hold KVMCLOUD_TEST_LOCK's file from now until the session ends (once per session)."""
    if _RUN_LOCK in config.stash:
        return
    stack = contextlib.ExitStack()
    stack.enter_context(held_run_lock(lock_path_from_env()))
    config.stash[_RUN_LOCK] = stack
    config.add_cleanup(stack.close)


@pytest.fixture(scope="session")
def libvirt_run_lock(request: pytest.FixtureRequest) -> None:
    """Hold KVMCLOUD_TEST_LOCK's file for the rest of the session when set (run_lock.py).

    Tests that start, stop or drive the real libvirt daemons depend on this, so parallel
    local runs take turns at the host's libvirt. The hook above usually took it already.
    """
    error = request.config.stash.get(_RUN_LOCK_ERROR, None)
    if error is not None:
        raise error
    _hold_run_lock(request.config)
