"""LibvirtDaemons: running daemons reused untouched; ours started in the foreground, stopped by PID.

The start path is exercised with stand-in daemons (small Python programs) and a readiness
check of our own, so these tests never start a second libvirtd beside a running one.
"""

import sys
from pathlib import Path

import pytest

from tests.support.libvirt import (
    Daemon,
    LibvirtDaemons,
    LibvirtStartError,
    LibvirtUnavailableError,
    libvirt_or_skip,
    virsh_answers,
)

# Writes its own PID where the test can see it, then serves until signalled.
_SERVE = """
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
while True:
    time.sleep(0.05)
"""
_IGNORE_SIGTERM = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + _SERVE
_FAIL_AT_ONCE = "import sys\nprint('cannot acquire pidfile /run/libvirtd.pid')\nsys.exit(1)\n"


def stand_in(name: str, code: str, ready_file: Path) -> Daemon:
    return Daemon(name, (sys.executable, "-c", code, str(ready_file)))


def is_running(pid: int) -> bool:
    # Our own children are reaped by Popen.wait, so a gone PID has no /proc entry.
    return Path(f"/proc/{pid}").exists()


def test_running_daemons_are_reused_and_left_running(libvirt_run_lock: None) -> None:
    with libvirt_or_skip():
        with LibvirtDaemons() as daemons:
            assert daemons.reused
            assert daemons.started_pids == []
        assert virsh_answers()


def test_starts_daemons_in_the_foreground_and_stops_them_by_pid(tmp_path: Path) -> None:
    ready = [tmp_path / "virtlogd.pid", tmp_path / "libvirtd.pid"]
    daemons = LibvirtDaemons(
        daemons=[stand_in("virtlogd", _SERVE, ready[0]), stand_in("libvirtd", _SERVE, ready[1])],
        is_ready=lambda: all(path.exists() for path in ready),
        requires_root=False,
        log_dir=tmp_path,
    )

    with daemons:
        pids = daemons.started_pids
        assert not daemons.reused
        # Foreground: the PID we hold is the daemon itself, not a parent that forked it.
        assert pids == [int(path.read_text()) for path in ready]
        assert all(is_running(pid) for pid in pids)

    assert not any(is_running(pid) for pid in pids)
    assert daemons.started_pids == []


def test_a_daemon_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    ready = tmp_path / "stubborn.pid"
    daemons = LibvirtDaemons(
        daemons=[stand_in("stubborn", _IGNORE_SIGTERM, ready)],
        is_ready=ready.exists,
        requires_root=False,
        stop_timeout_s=0.5,
        log_dir=tmp_path,
    )

    with daemons:
        (pid,) = daemons.started_pids

    assert not is_running(pid)


def test_a_daemon_that_exits_fails_the_start_with_its_log_and_stops_the_others(
    tmp_path: Path,
) -> None:
    served = tmp_path / "virtlogd.pid"
    daemons = LibvirtDaemons(
        daemons=[
            stand_in("virtlogd", _SERVE, served),
            stand_in("libvirtd", _FAIL_AT_ONCE, tmp_path / "unused"),
        ],
        is_ready=lambda: False,
        requires_root=False,
        log_dir=tmp_path,
    )

    with pytest.raises(LibvirtStartError, match=r"(?s)libvirtd .* exited with 1.*cannot acquire"):
        daemons.start()

    assert daemons.started_pids == []
    assert not is_running(int(served.read_text()))


def test_daemons_that_never_answer_are_stopped_after_the_timeout(tmp_path: Path) -> None:
    ready = tmp_path / "libvirtd.pid"
    daemons = LibvirtDaemons(
        daemons=[stand_in("libvirtd", _SERVE, ready)],
        is_ready=lambda: False,
        requires_root=False,
        ready_timeout_s=0.5,
        log_dir=tmp_path,
    )

    with pytest.raises(LibvirtStartError, match=r"did not answer within 0\.5 s"):
        daemons.start()

    assert not is_running(int(ready.read_text()))


def missing_daemons(tmp_path: Path) -> LibvirtDaemons:
    return LibvirtDaemons(
        daemons=[Daemon("libvirtd", (str(tmp_path / "no-such-libvirtd"),))],
        is_ready=lambda: False,
    )


def test_missing_programs_make_libvirt_unavailable(tmp_path: Path) -> None:
    with pytest.raises(LibvirtUnavailableError, match="no-such-libvirtd cannot be found"):
        missing_daemons(tmp_path).start()


def test_libvirt_or_skip_skips_locally_and_fails_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception), libvirt_or_skip(missing_daemons(tmp_path)):
        pass

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception), libvirt_or_skip(missing_daemons(tmp_path)):
        pass
