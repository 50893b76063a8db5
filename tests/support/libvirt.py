"""LibvirtDaemons: a working ``qemu:///system`` for tests, reusing running daemons or starting them.

Usage::

    from tests.support.libvirt import libvirt_or_skip

    with libvirt_or_skip() as daemons:   # skips locally, fails in CI, when libvirt can't run
        ...                              # qemu:///system answers here

If ``virsh -c qemu:///system version`` already works, the running daemons are used and left
alone. Otherwise ``virtlogd``, ``virtlockd`` and ``libvirtd`` are started in the foreground
as children of the test process (not ``-d``: a daemonised libvirtd could not be stopped by
the PID we hold), and stopped on exit by those PIDs: SIGTERM, then SIGKILL after a bounded
wait. Domains are separate QEMU processes; stopping libvirtd leaves them running, so tests
must destroy their own domains.

The daemons read ``/etc/libvirt/qemu.conf``, which on the project's containers must let QEMU
run as root without namespaces or a security driver: ``scripts/configure-libvirt-for-tests``.
"""

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests.support.required import required

URI = "qemu:///system"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
CHECK_TIMEOUT_S = 5.0
_POLL_S = 0.1


class LibvirtUnavailableError(RuntimeError):
    """libvirt cannot run here at all: programs or libvirt-python missing, or not root."""


class LibvirtStartError(RuntimeError):
    """The daemons were started but did not answer; the text carries their logs."""


@dataclass(frozen=True, slots=True)
class Daemon:
    """One daemon to run in the foreground: a name for logs and its argument list."""

    name: str
    argv: tuple[str, ...]


# virtlogd first: libvirtd hands QEMU's output to it, and fails domains when it is missing.
DEFAULT_DAEMONS = (
    Daemon("virtlogd", ("virtlogd",)),
    Daemon("virtlockd", ("virtlockd",)),
    Daemon("libvirtd", ("libvirtd",)),
)


def virsh_answers(uri: str = URI) -> bool:
    """Tell whether ``virsh -c <uri> version`` succeeds (False when virsh is missing)."""
    virsh = shutil.which("virsh")
    if virsh is None:
        return False
    try:
        completed = subprocess.run(
            [virsh, "-c", uri, "version"],
            capture_output=True,
            timeout=CHECK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return completed.returncode == 0


class LibvirtDaemons:
    """Make ``uri`` answer while the context is open; stop only what was started here.

    ``daemons`` and ``is_ready`` default to the real libvirt daemons and a ``virsh`` check;
    tests of this class pass stand-ins. ``started_pids`` lists the PIDs of the daemons this
    object started (empty when running daemons were reused).
    """

    def __init__(
        self,
        *,
        uri: str = URI,
        daemons: Sequence[Daemon] = DEFAULT_DAEMONS,
        is_ready: Callable[[], bool] | None = None,
        requires_root: bool = True,
        ready_timeout_s: float = READY_TIMEOUT_S,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        log_dir: Path | None = None,
    ) -> None:
        self.uri = uri
        self._daemons = tuple(daemons)
        self._is_ready = is_ready if is_ready is not None else lambda: virsh_answers(uri)
        self._requires_root = requires_root
        self._ready_timeout_s = ready_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._log_dir = log_dir
        self._processes: list[tuple[Daemon, subprocess.Popen[bytes], Path, IO[bytes]]] = []
        self.reused = False

    @property
    def started_pids(self) -> list[int]:
        """PIDs of the daemons started by this object, in start order."""
        return [process.pid for _, process, _, _ in self._processes]

    def __enter__(self) -> "LibvirtDaemons":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Reuse answering daemons, or start ours and wait (bounded) until they answer.

        Raises:
            LibvirtUnavailableError: the programs or libvirt-python are missing, or root
                is needed and we are not root.
            LibvirtStartError: the daemons exited or did not answer in time (they have
                been stopped again).
        """
        if self._processes:
            raise RuntimeError("LibvirtDaemons is already running")
        self._check_available()
        if self._is_ready():
            self.reused = True
            return
        self.reused = False
        self._check_can_start()
        log_dir = self._log_dir or Path(tempfile.mkdtemp(prefix="kvmcloud-libvirtd-"))
        try:
            for daemon in self._daemons:
                self._spawn(daemon, log_dir)
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the daemons started here, newest first, by PID; safe to call twice."""
        processes, self._processes = self._processes, []
        for _, process, _, log in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=self._stop_timeout_s)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=self._stop_timeout_s)
            log.close()

    def logs(self, lines: int = 30) -> str:
        """The last lines of every started daemon's log, for failure messages."""
        parts = []
        for daemon, _, path, _ in self._processes:
            try:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                tail = ["(no log)"]
            parts.append(f"--- {daemon.name} ({path}) ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def _check_available(self) -> None:
        if importlib.util.find_spec("libvirt") is None:
            raise LibvirtUnavailableError("libvirt-python is not installed in this environment")

    def _check_can_start(self) -> None:
        missing = [d.argv[0] for d in self._daemons if shutil.which(d.argv[0]) is None]
        if missing:
            raise LibvirtUnavailableError(
                f"{URI} does not answer and {', '.join(missing)} cannot be found; install "
                "libvirt-daemon-system and qemu-system-x86"
            )
        if self._requires_root and os.geteuid() != 0:
            raise LibvirtUnavailableError(
                f"{self.uri} does not answer, and starting the system libvirtd needs root"
            )

    def _spawn(self, daemon: Daemon, log_dir: Path) -> None:
        log_path = log_dir / f"{daemon.name}.log"
        log = log_path.open("ab")
        try:
            process = subprocess.Popen(
                list(daemon.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            log.close()
            raise
        self._processes.append((daemon, process, log_path, log))

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._ready_timeout_s
        while True:
            for daemon, process, _, _ in self._processes:
                if process.poll() is not None:
                    raise LibvirtStartError(
                        f"{daemon.name} (pid {process.pid}) exited with {process.returncode} "
                        f"before {self.uri} answered:\n{self.logs()}"
                    )
            if self._is_ready():
                return
            if time.monotonic() >= deadline:
                raise LibvirtStartError(
                    f"{self.uri} did not answer within {self._ready_timeout_s:g} s of "
                    f"starting the daemons:\n{self.logs()}"
                )
            time.sleep(_POLL_S)


@contextlib.contextmanager
def libvirt_or_skip(daemons: LibvirtDaemons | None = None) -> Iterator[LibvirtDaemons]:
    """Run ``daemons`` (the default ones if None); skip if libvirt can't run, fail in CI.

    CI is recognised by ``CI=true``, where a missing libvirt is a broken setup, not a
    reason to skip.
    """
    with required(
        daemons or LibvirtDaemons(), unavailable=LibvirtUnavailableError, what="libvirt"
    ) as running:
        yield running


def domain_state(name: str, uri: str = URI) -> str | None:
    """Return "running", "paused" or "stopped" for domain ``name``; None when undefined.

    Read with libvirt directly, not through the agent, so tests check the agent against
    libvirt's own view.
    """
    import libvirt

    libvirt.registerErrorHandler(lambda context, error: None, None)
    connection = libvirt.open(uri)
    try:
        try:
            domain = connection.lookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise
        state, _reason = domain.state()
    finally:
        connection.close()
    if state in (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PMSUSPENDED):
        return "paused"
    if state in (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_CRASHED):
        return "stopped"
    return "running"
