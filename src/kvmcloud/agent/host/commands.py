"""run(argv, timeout_s): the only place the agent starts a process.

Argument lists only, never a shell: image paths and URLs come from the network and must
never be interpreted by one (CloudStack's shell strings are a known weakness). Keeping the
one call here also lets tests forbid real processes with a single fixture.
"""

import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger(__name__)

_STDERR_EXCERPT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a finished process left behind."""

    returncode: int
    stdout: bytes
    stderr: bytes


class RunCommand(Protocol):
    """The signature of :func:`run`, for collaborators that take it as an argument."""

    def __call__(
        self, argv: Sequence[str], *, timeout_s: float, input: bytes | None = None
    ) -> CommandResult:
        """Run ``argv`` to completion."""
        ...


class CommandError(Exception):
    """Base of process failures; ``argv`` is the command that was run."""

    def __init__(self, message: str, argv: Sequence[str]) -> None:
        super().__init__(message)
        self.argv = tuple(argv)


class CommandNotFoundError(CommandError):
    """The program is not installed (or not on PATH)."""


class CommandFailedError(CommandError):
    """The process exited non-zero; ``stderr`` says why."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: bytes) -> None:
        self.returncode = returncode
        self.stderr = stderr
        text = stderr.decode("utf-8", "replace").strip()[-_STDERR_EXCERPT_CHARS:]
        super().__init__(f"{argv[0]} exited with status {returncode}: {text}", argv)


class CommandTimeoutError(CommandError):
    """The process ran longer than ``timeout_s`` and was killed."""

    def __init__(self, argv: Sequence[str], timeout_s: float) -> None:
        self.timeout_s = timeout_s
        super().__init__(f"{argv[0]} did not finish within {timeout_s:g} s", argv)


def run(argv: Sequence[str], *, timeout_s: float, input: bytes | None = None) -> CommandResult:
    """Run ``argv`` to completion and return its output.

    Raises:
        CommandNotFoundError: the program does not exist.
        CommandFailedError: it exited with a non-zero status.
        CommandTimeoutError: it did not finish in time (it has been killed).
    """
    args = list(argv)
    if not args:
        raise ValueError("argv must name a program")
    logger.debug("running %s", args)
    try:
        completed = subprocess.run(
            args,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise CommandNotFoundError(f"{args[0]} cannot be started: {exc}", args) from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandTimeoutError(args, timeout_s) from exc
    if completed.returncode != 0:
        raise CommandFailedError(args, completed.returncode, completed.stderr)
    return CommandResult(completed.returncode, completed.stdout, completed.stderr)
