"""Suite-wide guards: agent code may start no process unless a test allows it by name."""

import os
from collections.abc import Sequence

import pytest

from kvmcloud.agent.host import commands


class CommandNotAllowedError(AssertionError):
    """A test started a program it did not declare with allow_commands."""


@pytest.fixture(autouse=True)
def _guard_commands(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``commands.run`` refuse programs not named in ``@pytest.mark.allow_commands``."""
    marker = request.node.get_closest_marker("allow_commands")
    allowed = frozenset(marker.args) if marker is not None else frozenset()
    real_run = commands.run

    def guarded_run(
        argv: Sequence[str], *, timeout_s: float, input: bytes | None = None
    ) -> commands.CommandResult:
        program = os.path.basename(argv[0]) if argv else ""
        if program not in allowed:
            raise CommandNotAllowedError(
                f"test tried to run {program!r}; mark it "
                f"@pytest.mark.allow_commands({program!r}) or pass a fake runner"
            )
        return real_run(argv, timeout_s=timeout_s, input=input)

    monkeypatch.setattr(commands, "run", guarded_run)
