"""run(argv, timeout_s) and stream(argv, timeout_s): the only place the agent starts a process.

Argument lists only, never a shell: image paths and URLs come from the network and must
never be interpreted by one (CloudStack's shell strings are a known weakness). Keeping the
calls here also lets tests forbid real processes with a single fixture.
"""

import contextlib
import fcntl
import logging
import math
import os
import select
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, Protocol

logger = logging.getLogger(__name__)

_STDERR_EXCERPT_CHARS = 2000
# A killed process is reaped at once unless it is stuck in the kernel; never hang on one.
_KILL_WAIT_S = 5.0
# Linux's default pipe holds 64 KiB; 1 MiB (the unprivileged maximum) lets one read take a
# whole block of a bulk producer such as nfs-cat, which writes 1 MiB at a time.
_PIPE_SIZE_BYTES = 1024 * 1024


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
    """The process exited non-zero; ``stderr`` (or, for some programs, ``stdout``) says why.

    ``stdout`` is what :func:`run` captured; :func:`stream` hands stdout to its caller and
    leaves it empty here.
    """

    def __init__(
        self, argv: Sequence[str], returncode: int, stderr: bytes, stdout: bytes = b""
    ) -> None:
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout
        # Some programs (nfs-ls among them) print their errors on stdout.
        reason = stderr if stderr.strip() else stdout
        text = reason.decode("utf-8", "replace").strip()[-_STDERR_EXCERPT_CHARS:]
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
        raise CommandFailedError(args, completed.returncode, completed.stderr, completed.stdout)
    return CommandResult(completed.returncode, completed.stdout, completed.stderr)


class _TimedProcess:
    """A child process with a time limit: its PID, how it is killed, how its end is judged."""

    def __init__(
        self,
        argv: Sequence[str],
        process: "subprocess.Popen[bytes]",
        deadline: float,
        timeout_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.argv = tuple(argv)
        self._process = process
        self._deadline = deadline
        self._timeout_s = timeout_s
        self._clock = clock

    @property
    def pid(self) -> int:
        """The process ID (the process is reaped before its context manager returns)."""
        return self._process.pid

    def kill(self) -> None:
        """Kill the process (SIGKILL to its PID) unless it has already exited, and reap it."""
        # Popen.kill() checks the child has not been reaped first, so it never signals a
        # PID the kernel has since given to another process.
        self._process.kill()
        try:
            self._process.wait(timeout=_KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            logger.warning("%s (pid %d) did not exit after SIGKILL", self.argv[0], self.pid)

    def _wait_for_exit(self, stderr: IO[bytes]) -> None:
        """Wait within the time limit; raise if the process failed or outlived it."""
        try:
            returncode = self._process.wait(timeout=max(0.0, self._deadline - self._clock()))
        except subprocess.TimeoutExpired as exc:
            self.kill()
            raise CommandTimeoutError(self.argv, self._timeout_s) from exc
        if returncode != 0:
            stderr.seek(0)
            raise CommandFailedError(self.argv, returncode, stderr.read())


class ProcessStream(_TimedProcess):
    """A running process whose stdout is read while it is produced; made by :func:`stream`.

    Only :meth:`readinto` reads stdout, so every read honours the process's time limit.
    """

    def __init__(
        self,
        argv: Sequence[str],
        process: "subprocess.Popen[bytes]",
        stdout: IO[bytes],
        deadline: float,
        timeout_s: float,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(argv, process, deadline, timeout_s, clock)
        self._stdout = stdout
        self._poll = select.poll()
        self._poll.register(stdout.fileno(), select.POLLIN)
        self.at_eof = False

    def readinto(
        self, buffer: bytearray | memoryview, *, wait_s: float | None = None
    ) -> int | None:
        """Read what stdout has, up to ``len(buffer)`` bytes.

        Waits at most ``wait_s`` (default: until the time limit) for the first byte, then
        takes whatever else is already in the pipe without waiting again.

        Returns:
            The number of bytes read; 0 once stdout is at its end; None when nothing came
            within ``wait_s`` (the process is still running: a stall the caller judges).

        Raises:
            CommandTimeoutError: the time limit of :func:`stream` has passed (the process
                has been killed).
        """
        view = memoryview(buffer).cast("B")
        if self.at_eof or not len(view):
            return 0
        remaining_s = self._deadline - self._clock()
        limit_s = remaining_s if wait_s is None else min(wait_s, remaining_s)
        if not self._readable(limit_s):
            if limit_s >= remaining_s:
                self.kill()
                raise CommandTimeoutError(self.argv, self._timeout_s)
            return None
        filled = 0
        # Bounded: each pass fills more of the buffer, or stops at its end or an empty pipe.
        while filled < len(view):
            count = os.readv(self._stdout.fileno(), [view[filled:]])
            if not count:
                self.at_eof = True
                break
            filled += count
            if not self._readable(0):
                break
        return filled

    def _readable(self, wait_s: float) -> bool:
        # Rounded up: a wait that ends a little early would be taken for a stall.
        events = self._poll.poll(max(0, math.ceil(wait_s * 1000)))
        return bool(events)

    def _finish(self, stderr: IO[bytes]) -> None:
        """Wait for a process whose output was read to the end; raise if it failed."""
        self._wait_for_exit(stderr)


class StreamCommand(Protocol):
    """The signature of :func:`stream`, for collaborators that take it as an argument."""

    def __call__(
        self, argv: Sequence[str], *, timeout_s: float
    ) -> AbstractContextManager[ProcessStream]:
        """Start ``argv`` with its stdout to be read as a stream."""
        ...


@contextlib.contextmanager
def stream(argv: Sequence[str], *, timeout_s: float) -> Iterator[ProcessStream]:
    """Start ``argv`` and yield its stdout as a :class:`ProcessStream`; stop it on exit.

    The process gets no stdin; its stderr goes to an anonymous temporary file, so a chatty
    program cannot fill a pipe and block. On leaving the block:

    * after stdout reached its end, the process is waited for (within the time limit) and a
      non-zero exit raises :class:`CommandFailedError` with its stderr;
    * before that (the caller stopped early, or an exception is propagating), the process
      is killed by its PID and reaped; its exit status is not checked.

    Raises:
        CommandNotFoundError: the program does not exist.
        CommandFailedError: it exited non-zero after its output was read to the end.
        CommandTimeoutError: ``timeout_s`` passed while reading or waiting (it was killed).
    """
    args = list(argv)
    if not args:
        raise ValueError("argv must name a program")
    logger.debug("streaming %s", args)
    with tempfile.TemporaryFile() as stderr:
        try:
            process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, bufsize=0
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise CommandNotFoundError(f"{args[0]} cannot be started: {exc}", args) from exc
        stdout = process.stdout
        assert stdout is not None  # stdout=PIPE always sets it
        with contextlib.suppress(OSError):
            fcntl.fcntl(stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE_BYTES)
        running = ProcessStream(
            args, process, stdout, time.monotonic() + timeout_s, timeout_s, time.monotonic
        )
        try:
            yield running
            if running.at_eof:
                running._finish(stderr)
        finally:
            # Stopped early, failed, or already exited: kill() is a no-op on a reaped child.
            running.kill()
            stdout.close()


class ProcessFeed(_TimedProcess):
    """A running process whose stdin is written while the caller produces the bytes.

    Made by :func:`feed`. Every write honours the process's time limit: a reader that stops
    reading (a hung ``rbd import``) makes :meth:`write` raise instead of blocking forever.
    """

    def __init__(
        self,
        argv: Sequence[str],
        process: "subprocess.Popen[bytes]",
        stdin: IO[bytes],
        deadline: float,
        timeout_s: float,
    ) -> None:
        super().__init__(argv, process, deadline, timeout_s, time.monotonic)
        self._stdin = stdin
        self._poll = select.poll()
        self._poll.register(stdin.fileno(), select.POLLOUT)
        self.written_bytes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data`` to the process's stdin.

        Raises:
            CommandTimeoutError: the time limit passed (the process has been killed).
            BrokenPipeError: the process exited before reading everything; leaving the
                :func:`feed` block then raises its :class:`CommandFailedError`.
        """
        view = memoryview(data).cast("B")
        written = 0
        # Bounded: each pass writes some bytes, or the deadline ends it.
        while written < len(view):
            remaining_s = self._deadline - self._clock()
            if remaining_s <= 0 or not self._poll.poll(math.ceil(remaining_s * 1000)):
                self.kill()
                raise CommandTimeoutError(self.argv, self._timeout_s)
            written += os.write(self._stdin.fileno(), view[written:])
        self.written_bytes += written

    def _finish(self, stderr: IO[bytes]) -> None:
        """Close stdin (end of data), wait within the time limit, raise if it failed."""
        with contextlib.suppress(BrokenPipeError):
            self._stdin.close()
        self._wait_for_exit(stderr)


class FeedCommand(Protocol):
    """The signature of :func:`feed`, for collaborators that take it as an argument."""

    def __call__(
        self, argv: Sequence[str], *, timeout_s: float
    ) -> AbstractContextManager[ProcessFeed]:
        """Start ``argv`` with its stdin to be written as a stream."""
        ...


@contextlib.contextmanager
def feed(argv: Sequence[str], *, timeout_s: float) -> Iterator[ProcessFeed]:
    """Start ``argv`` and yield its stdin as a :class:`ProcessFeed`; finish or stop it on exit.

    The mirror of :func:`stream`, for consumers such as ``rbd import -``. stdout is
    discarded; stderr goes to an anonymous temporary file. On leaving the block normally,
    stdin is closed and the process waited for (within the time limit); a non-zero exit
    raises :class:`CommandFailedError` with its stderr. When an exception propagates, the
    process is killed by its PID and reaped, so a half-fed consumer never finishes.

    Raises:
        CommandNotFoundError: the program does not exist.
        CommandFailedError: it exited non-zero (also after a write hit a broken pipe).
        CommandTimeoutError: ``timeout_s`` passed while writing or waiting (it was killed).
    """
    args = list(argv)
    if not args:
        raise ValueError("argv must name a program")
    logger.debug("feeding %s", args)
    with tempfile.TemporaryFile() as stderr:
        try:
            process = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                bufsize=0,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise CommandNotFoundError(f"{args[0]} cannot be started: {exc}", args) from exc
        stdin = process.stdin
        assert stdin is not None  # stdin=PIPE always sets it
        with contextlib.suppress(OSError):
            fcntl.fcntl(stdin.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE_BYTES)
        running = ProcessFeed(args, process, stdin, time.monotonic() + timeout_s, timeout_s)
        try:
            try:
                yield running
            except BrokenPipeError:
                # The consumer exited early: its status and stderr say why.
                running._finish(stderr)
                raise
            running._finish(stderr)
        finally:
            running.kill()
            with contextlib.suppress(OSError):
                stdin.close()
