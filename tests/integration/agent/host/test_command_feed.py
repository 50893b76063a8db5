from pathlib import Path

import pytest

from kvmcloud.agent.host import commands
from kvmcloud.agent.host.commands import (
    CommandFailedError,
    CommandNotFoundError,
    CommandTimeoutError,
)
from tests.support.processes import process_gone


def feed_megabytes(
    argv: list[str],
    *,
    timeout_s: float,
    count: int,
    pids: list[int] | None = None,
    then_fail: bool = False,
) -> None:
    with commands.feed(argv, timeout_s=timeout_s) as running:
        if pids is not None:
            pids.append(running.pid)
        for _ in range(count):
            running.write(bytes(1 << 20))
        if then_fail:
            raise RuntimeError("producer failed")


@pytest.mark.allow_commands("dd")
def test_feeds_stdin_to_the_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    data = bytes(range(256)) * 20_000

    with commands.feed(["dd", f"of={out}", "bs=1M", "status=none"], timeout_s=10) as running:
        running.write(data[:1000])
        running.write(memoryview(data)[1000:])
        pid = running.pid

    assert out.read_bytes() == data
    assert running.written_bytes == len(data)
    assert process_gone(pid)


@pytest.mark.allow_commands("sh")
def test_nonzero_exit_raises_with_stderr() -> None:
    with (
        pytest.raises(CommandFailedError, match="no room") as caught,
        commands.feed(
            ["sh", "-c", "cat >/dev/null; echo no room >&2; exit 3"], timeout_s=10
        ) as running,
    ):
        running.write(b"x" * 100)
    assert caught.value.returncode == 3


@pytest.mark.allow_commands("sh")
def test_a_consumer_that_quits_early_fails_with_its_own_error() -> None:
    with pytest.raises(CommandFailedError, match="refused"):
        feed_megabytes(["sh", "-c", "echo refused >&2; exit 1"], timeout_s=10, count=100)


@pytest.mark.allow_commands("sleep")
def test_a_consumer_that_stops_reading_times_out_and_is_killed() -> None:
    pids: list[int] = []
    with pytest.raises(CommandTimeoutError):
        feed_megabytes(["sleep", "30"], timeout_s=1, count=100, pids=pids)
    assert process_gone(pids[0])


@pytest.mark.allow_commands("cat")
def test_an_exception_in_the_block_kills_the_consumer() -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="producer failed"):
        feed_megabytes(["cat"], timeout_s=10, count=1, pids=pids, then_fail=True)
    assert process_gone(pids[0])


@pytest.mark.allow_commands("kvmcloud-no-such-program")
def test_missing_program_is_named() -> None:
    with (
        pytest.raises(CommandNotFoundError, match="kvmcloud-no-such-program"),
        commands.feed(["kvmcloud-no-such-program"], timeout_s=1),
    ):
        pass
