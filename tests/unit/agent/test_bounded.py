"""run_bounded(): a call that really blocks in the kernel is given up on in time."""

import os
import threading
import time
from pathlib import Path

import pytest

from kvmcloud.agent.bounded import CallTimedOutError, run_bounded


def test_a_blocking_open_is_given_up_on_after_the_timeout(tmp_path: Path) -> None:
    # Opening a FIFO for reading blocks in the kernel until a writer opens it, as a stat
    # on a hung NFS mount blocks until the server answers: no Python-level sleep.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def open_for_reading() -> None:
        os.close(os.open(fifo, os.O_RDONLY))

    started = time.monotonic()
    with pytest.raises(CallTimedOutError, match=r"did not return within 0\.5 s"):
        run_bounded(open_for_reading, timeout_s=0.5, name="open-fifo")
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 3
    # Release the blocked worker: a writer appears, its open returns, the thread ends.
    with fifo.open("wb"):
        pass
    deadline = time.monotonic() + 5
    while any(t.name == "open-fifo" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the worker did not end once unblocked"
        time.sleep(0.05)


def test_a_prompt_call_returns_its_value_and_raises_its_errors(tmp_path: Path) -> None:
    assert run_bounded(lambda: 42, timeout_s=5, name="answer") == 42
    with pytest.raises(FileNotFoundError):
        run_bounded(lambda: os.stat(tmp_path / "absent"), timeout_s=5, name="missing")
