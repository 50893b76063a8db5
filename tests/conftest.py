"""Suite-wide fixtures: the guard on agent commands, and the libvirt run lock."""

import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager

import pytest

from kvmcloud.agent.host import commands
from tests.support.run_lock import held_run_lock, lock_path_from_env


class CommandNotAllowedError(AssertionError):
    """A test started a program it did not declare with allow_commands."""


@pytest.fixture(autouse=True)
def _guard_commands(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``commands.run`` and ``commands.stream`` refuse programs not in allow_commands."""
    marker = request.node.get_closest_marker("allow_commands")
    allowed = frozenset(marker.args) if marker is not None else frozenset()
    real_run = commands.run
    real_stream = commands.stream

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

    monkeypatch.setattr(commands, "run", guarded_run)
    monkeypatch.setattr(commands, "stream", guarded_stream)


@pytest.fixture(scope="session")
def libvirt_run_lock() -> Iterator[None]:
    """Hold KVMCLOUD_TEST_LOCK's file for the session when set (tests/support/run_lock.py).

    Tests that start, stop or drive the real libvirt daemons depend on this, so parallel
    local runs take turns at the host's libvirt.
    """
    with held_run_lock(lock_path_from_env()):
        yield
