import pytest

from kvmcloud.agent.host import commands
from kvmcloud.agent.host.commands import (
    CommandFailedError,
    CommandNotFoundError,
    CommandTimeoutError,
)


@pytest.mark.allow_commands("cat")
def test_run_returns_output_and_feeds_input() -> None:
    result = commands.run(["cat"], timeout_s=5, input=b"hello")
    assert (result.returncode, result.stdout) == (0, b"hello")


@pytest.mark.allow_commands("ls")
def test_nonzero_exit_raises_with_stderr() -> None:
    with pytest.raises(CommandFailedError) as caught:
        commands.run(["ls", "/nonexistent-kvmcloud-path"], timeout_s=5)
    assert caught.value.returncode != 0
    assert b"nonexistent-kvmcloud-path" in caught.value.stderr
    assert caught.value.argv == ("ls", "/nonexistent-kvmcloud-path")


@pytest.mark.allow_commands("sleep")
def test_timeout_kills_and_raises() -> None:
    with pytest.raises(CommandTimeoutError, match=r"did not finish within 0\.2 s"):
        commands.run(["sleep", "5"], timeout_s=0.2)


@pytest.mark.allow_commands("kvmcloud-no-such-program")
def test_missing_program_is_named() -> None:
    with pytest.raises(CommandNotFoundError, match="kvmcloud-no-such-program"):
        commands.run(["kvmcloud-no-such-program"], timeout_s=5)


def test_unmarked_tests_cannot_start_processes() -> None:
    with pytest.raises(AssertionError, match="allow_commands"):
        commands.run(["true"], timeout_s=5)
