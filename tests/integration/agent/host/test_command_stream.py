import time
from collections.abc import Callable

import pytest

from kvmcloud.agent.host import commands
from kvmcloud.agent.host.commands import (
    CommandFailedError,
    CommandNotFoundError,
    CommandTimeoutError,
    ProcessStream,
)
from tests.support.processes import process_gone


def read_all(running: ProcessStream, chunk_bytes: int = 1 << 20) -> bytes:
    buffer = bytearray(chunk_bytes)
    out = bytearray()
    for _ in range(10_000):
        count = running.readinto(buffer, wait_s=5)
        assert count is not None, "no output within 5 s"
        if count == 0:
            return bytes(out)
        out += buffer[:count]
    raise AssertionError("stream did not end")


@pytest.mark.allow_commands("head")
def test_streams_stdout_to_the_end_in_large_reads() -> None:
    with commands.stream(["head", "-c", "5000000", "/dev/zero"], timeout_s=10) as running:
        data = read_all(running, chunk_bytes=4 << 20)
        pid = running.pid
    assert data == bytes(5_000_000)
    assert process_gone(pid)


@pytest.mark.allow_commands("cat")
def test_nonzero_exit_after_the_output_raises_with_stderr() -> None:
    with (
        pytest.raises(CommandFailedError) as caught,
        commands.stream(["cat", "/nonexistent-kvmcloud-path"], timeout_s=5) as running,
    ):
        assert read_all(running) == b""
    assert caught.value.returncode != 0
    assert b"nonexistent-kvmcloud-path" in caught.value.stderr
    assert "nonexistent-kvmcloud-path" in str(caught.value)


@pytest.mark.allow_commands("cat")
def test_leaving_early_kills_the_process_by_pid() -> None:
    # `cat /dev/zero` never ends on its own: only the kill on exit can stop it.
    with commands.stream(["cat", "/dev/zero"], timeout_s=10) as running:
        assert running.readinto(bytearray(1024), wait_s=5) == 1024
        pid = running.pid
    assert process_gone(pid)


def stream_and(
    argv: list[str], timeout_s: float, body: Callable[[ProcessStream], object], pids: list[int]
) -> None:
    with commands.stream(argv, timeout_s=timeout_s) as running:
        pids.append(running.pid)
        body(running)


def fail(running: ProcessStream) -> None:
    raise RuntimeError("stop")


@pytest.mark.allow_commands("cat")
def test_an_exception_in_the_block_kills_the_process() -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="stop"):
        stream_and(["cat", "/dev/zero"], 10, fail, pids)
    assert process_gone(pids[0])


@pytest.mark.allow_commands("sleep")
def test_a_silent_process_is_reported_as_a_stall_not_an_error() -> None:
    with commands.stream(["sleep", "5"], timeout_s=10) as running:
        started = time.monotonic()
        assert running.readinto(bytearray(16), wait_s=0.2) is None
        assert time.monotonic() - started < 2
        pid = running.pid
    assert process_gone(pid)


@pytest.mark.allow_commands("sleep")
def test_the_time_limit_kills_and_raises() -> None:
    pids: list[int] = []
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError, match=r"did not finish within 0\.3 s"):
        stream_and(["sleep", "5"], 0.3, lambda running: running.readinto(bytearray(16)), pids)
    assert time.monotonic() - started < 3
    assert process_gone(pids[0])


def read_to_eof(running: ProcessStream) -> None:
    assert running.readinto(bytearray(16), wait_s=2) == 0


@pytest.mark.allow_commands("sh")
def test_waiting_for_exit_after_eof_honours_the_time_limit() -> None:
    # The child closes stdout but keeps running: reading ends, waiting must not.
    pids: list[int] = []
    with pytest.raises(CommandTimeoutError):
        stream_and(["sh", "-c", "exec >&-; sleep 5"], 0.5, read_to_eof, pids)
    assert process_gone(pids[0])


@pytest.mark.allow_commands("kvmcloud-no-such-program")
def test_missing_program_is_named() -> None:
    with (
        pytest.raises(CommandNotFoundError, match="kvmcloud-no-such-program"),
        commands.stream(["kvmcloud-no-such-program"], timeout_s=5),
    ):
        pass


def test_unmarked_tests_cannot_stream_processes() -> None:
    with pytest.raises(AssertionError, match="allow_commands"):
        commands.stream(["true"], timeout_s=5)
