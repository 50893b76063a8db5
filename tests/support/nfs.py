"""GaneshaServer: nfs-ganesha (and rpcbind if none runs) exporting a temp directory on loopback.

Usage::

    from tests.support.nfs import nfs_or_skip

    with nfs_or_skip() as server:          # skips locally, fails in CI, when NFS can't run
        (server.export_dir / "t.qcow2").write_bytes(data)
        url = server.url("t.qcow2")        # nfs://127.0.0.1:<port>/<export dir>/t.qcow2

There is no kernel NFS client on the project's machines, so nothing is mounted: clients are
libnfs's userspace tools (``nfs-ls``, ``nfs-cat``).

What makes ganesha work here (Debian 12, ganesha 4.3): ``rpcbind`` must run first, or NFSv3
clients fail with "nfs_service failed" (they look the MOUNT service up through it). The NFS
port need not be 2049: ganesha listens on ``NFS_Port`` and registers it with rpcbind, and a
``nfs://host:port/…`` URL reaches it (the downloader passes the port as libnfs's
``?nfsport=``). NFSv3 clients mount the export's ``Path``; ``Pseudo`` is set to the same
path so NFSv4 sees the same names. It answers within a second of starting with
``Graceless = true``; it logs DBUS and Kerberos complaints that do no harm.

Three exports: ``export_dir`` (read-only, root is not squashed, so every file reads),
``squashed_dir`` (read-only, root is mapped to the anonymous user, so a mode-0600 file
there is refused, for permission tests) and ``writable_dir`` (read/write, root not
squashed: primary storage for ``NetworkFilesystem`` pools). Tests that write give each
pool its own subfolder (``writable_subdir``), mounted as its own export path.

One ganesha per machine: rpcbind holds one registration per RPC program, so a second
ganesha would take the NFS and MOUNT registrations of the first, and QEMU/libvirt (which
cannot be given ports) would reach the wrong one. ``start`` therefore takes an exclusive
lock on ``GANESHA_LOCK`` (held until ``stop``) and waits, bounded, for any other test
process's ganesha to stop first.

Processes are started in the foreground as children of the test process and stopped by
those PIDs: SIGTERM, then SIGKILL after a bounded wait. A running rpcbind is reused and
left alone. Caveat: ganesha registers its NFS and MOUNT ports with that rpcbind, replacing
the registration of any other NFS server on the machine while the tests run.
"""

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tests.support.processes import Daemon, free_port
from tests.support.required import required

HOST = "127.0.0.1"
RPCBIND_PORT = 111
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
CHECK_TIMEOUT_S = 5.0
LOCK_TIMEOUT_S = 300.0
REQUIRED_PROGRAMS = ("ganesha.nfsd", "rpcbind", "nfs-ls", "nfs-cat")
# Outside every test's temp directory, so every process of the machine sees the same file.
GANESHA_LOCK = Path("/run/lock/kvmcloud-tests-ganesha.lock")
_POLL_S = 0.1

_CONFIG = """\
NFS_CORE_PARAM {{
    Protocols = 3, 4;
    Bind_addr = {host};
    NFS_Port = {port};
    Enable_NLM = false;
    Enable_RQUOTA = false;
}}
NFSV4 {{
    Graceless = true;
    RecoveryRoot = "{recovery}";
}}
NFS_KRB5 {{
    Active_krb5 = false;
}}
EXPORT {{
    Export_Id = 1;
    Path = "{export}";
    Pseudo = "{export}";
    Access_Type = RO;
    Squash = No_Root_Squash;
    SecType = sys;
    FSAL {{ Name = VFS; }}
}}
EXPORT {{
    Export_Id = 2;
    Path = "{squashed}";
    Pseudo = "{squashed}";
    Access_Type = RO;
    Squash = Root_Squash;
    SecType = sys;
    FSAL {{ Name = VFS; }}
}}
EXPORT {{
    Export_Id = 3;
    Path = "{writable}";
    Pseudo = "{writable}";
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    FSAL {{ Name = VFS; }}
}}
"""


class NfsUnavailableError(RuntimeError):
    """NFS cannot be served here: programs missing, or not root."""


class NfsStartError(RuntimeError):
    """ganesha (or rpcbind) was started but did not serve; the text carries its log."""


def port_answers(port: int, host: str = HOST) -> bool:
    """Tell whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


class GaneshaServer:
    """Serve ``export_dir`` (and ``squashed_dir``) over NFSv3/v4 while the context is open.

    ``port`` is the NFS port (a free one by default, never 2049 unless asked). The MOUNT
    service takes an ephemeral port; clients find it through rpcbind on port 111.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        lock_timeout_s: float = LOCK_TIMEOUT_S,
        lock_path: Path = GANESHA_LOCK,
    ) -> None:
        self._requested_port = port
        self.port = 0
        self._ready_timeout_s = ready_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._lock_timeout_s = lock_timeout_s
        self._lock_path = lock_path
        self._lock: IO[bytes] | None = None
        self._directory: Path | None = None
        self._ganesha: Daemon | None = None
        self._rpcbind: Daemon | None = None
        self.startup_s: float | None = None

    @property
    def directory(self) -> Path:
        assert self._directory is not None, "the server is not running"
        return self._directory

    @property
    def export_dir(self) -> Path:
        """The exported directory (root not squashed): put files here to serve them."""
        return self.directory / "export"

    @property
    def squashed_dir(self) -> Path:
        """A second export where root is mapped to the anonymous user."""
        return self.directory / "squashed"

    @property
    def writable_dir(self) -> Path:
        """The read/write export (root not squashed): NFS primary storage."""
        return self.directory / "writable"

    def writable_subdir(self, name: str) -> Path:
        """Create (if needed) and return ``writable_dir/name``: one pool's export path."""
        path = self.writable_dir / name
        path.mkdir(exist_ok=True)
        return path

    def pool_url(self, export: Path | None = None) -> str:
        """The ``nfs://host/path`` of a writable export, as createStoragePool takes it.

        No port: clients find ganesha's NFS and MOUNT ports through rpcbind, as QEMU and
        libvirt must.
        """
        return f"nfs://{HOST}{export or self.writable_dir}"

    @property
    def log_path(self) -> Path:
        return self.directory / "ganesha.log"

    @property
    def started_pids(self) -> list[int]:
        """PIDs of the daemons started by this object (rpcbind first if it was started)."""
        return [c.process.pid for c in (self._rpcbind, self._ganesha) if c is not None]

    def url(self, name: str, *, directory: Path | None = None) -> str:
        """The ``nfs://`` URL of ``name`` in ``directory`` (default: ``export_dir``)."""
        return f"nfs://{HOST}:{self.port}{directory or self.export_dir}/{name}"

    def __enter__(self) -> "GaneshaServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start rpcbind (if none answers) and ganesha; wait (bounded) until it serves.

        Raises:
            NfsUnavailableError: programs missing or not root.
            NfsStartError: a daemon exited or ganesha did not serve in time (both have been
                stopped again).
        """
        if self._ganesha is not None:
            raise RuntimeError("GaneshaServer is already running")
        missing = [name for name in REQUIRED_PROGRAMS if shutil.which(name) is None]
        if missing:
            raise NfsUnavailableError(
                f"{', '.join(missing)} not found; install nfs-ganesha, nfs-ganesha-vfs, "
                "rpcbind and libnfs-utils"
            )
        if os.geteuid() != 0:
            raise NfsUnavailableError("ganesha.nfsd and rpcbind need root")
        self._take_lock()
        self._directory = Path(tempfile.mkdtemp(prefix="kvmcloud-nfs-"))
        try:
            self._start_rpcbind()
            self._start_ganesha()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop ganesha, then rpcbind if it was started here, by PID; safe to call twice."""
        for child in (self._ganesha, self._rpcbind):
            if child is not None:
                child.stop(self._stop_timeout_s)
        self._ganesha = self._rpcbind = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None
        if self._lock is not None:
            # Closing the file releases the lock: the next test process may start its ganesha.
            self._lock.close()
            self._lock = None

    def _take_lock(self) -> None:
        """Wait (bounded) for the machine-wide ganesha lock; raise NfsStartError on timeout."""
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = self._lock_path.open("a+b")
        deadline = time.monotonic() + self._lock_timeout_s
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    lock.seek(0)
                    holder = lock.read().decode(errors="replace").strip() or "unknown"
                    lock.close()
                    raise NfsStartError(
                        f"another test ganesha (pid {holder}) still holds {self._lock_path} "
                        f"after {self._lock_timeout_s:g} s: only one may run per machine"
                    ) from None
                time.sleep(_POLL_S)
        lock.truncate(0)
        lock.write(str(os.getpid()).encode())
        lock.flush()
        self._lock = lock

    def pause(self) -> None:
        """Freeze ganesha (SIGSTOP): a hung server, as clients see it. ``resume`` undoes it.

        Its exports and files stay as they are; clients' calls get no answer until then.
        """
        if self._ganesha is None:
            raise RuntimeError("GaneshaServer is not running")
        os.kill(self._ganesha.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused ganesha run again (SIGCONT)."""
        if self._ganesha is None:
            raise RuntimeError("GaneshaServer is not running")
        os.kill(self._ganesha.process.pid, signal.SIGCONT)

    def log_tail(self, lines: int = 40) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no ganesha log)"
        return "\n".join(tail)

    def _start_rpcbind(self) -> None:
        if port_answers(RPCBIND_PORT):
            return
        # -f keeps rpcbind in the foreground as our child, so we can stop it by its PID;
        # -w lets it reload registrations after a restart, as the Debian service does.
        self._rpcbind = Daemon("rpcbind", ["rpcbind", "-f", "-w"], self.directory / "rpcbind.log")
        deadline = time.monotonic() + CHECK_TIMEOUT_S
        while not port_answers(RPCBIND_PORT):
            if self._rpcbind.process.poll() is not None or time.monotonic() >= deadline:
                log = (self.directory / "rpcbind.log").read_text(errors="replace")
                raise NfsStartError(f"rpcbind did not answer on port {RPCBIND_PORT}:\n{log}")
            time.sleep(_POLL_S)

    def _start_ganesha(self) -> None:
        self.port = self._requested_port or free_port()
        self.export_dir.mkdir()
        self.squashed_dir.mkdir()
        self.writable_dir.mkdir()
        (self.directory / "recovery").mkdir()
        config = self.directory / "ganesha.conf"
        config.write_text(
            _CONFIG.format(
                host=HOST,
                port=self.port,
                recovery=self.directory / "recovery",
                export=self.export_dir,
                squashed=self.squashed_dir,
                writable=self.writable_dir,
            )
        )
        argv = [
            "ganesha.nfsd",
            "-F",
            "-f",
            str(config),
            "-L",
            str(self.log_path),
            "-p",
            str(self.directory / "ganesha.pid"),
        ]
        started = time.monotonic()
        self._ganesha = Daemon("ganesha.nfsd", argv, self.directory / "ganesha.out")
        deadline = started + self._ready_timeout_s
        while not self._serves():
            if self._ganesha.process.poll() is not None:
                raise NfsStartError(
                    f"ganesha.nfsd exited with {self._ganesha.process.returncode} "
                    f"(NFS port {self.port}; busy?):\n{self.log_tail()}"
                )
            if time.monotonic() >= deadline:
                raise NfsStartError(
                    f"ganesha.nfsd did not serve {self.export_dir} within "
                    f"{self._ready_timeout_s:g} s:\n{self.log_tail()}"
                )
            time.sleep(_POLL_S)
        self.startup_s = time.monotonic() - started

    def _serves(self) -> bool:
        url = f"nfs://{HOST}{self.export_dir}?nfsport={self.port}"
        try:
            completed = subprocess.run(
                ["nfs-ls", url], capture_output=True, timeout=CHECK_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            return False
        return completed.returncode == 0


@contextlib.contextmanager
def nfs_or_skip(server: GaneshaServer | None = None) -> Iterator[GaneshaServer]:
    """Run ``server`` (a default one if None); skip if NFS can't run here, fail in CI.

    CI is recognised by ``CI=true``, where missing packages or root are a broken setup,
    not a reason to skip.
    """
    with required(
        server or GaneshaServer(),
        unavailable=NfsUnavailableError,
        what="NFS (ganesha, rpcbind, libnfs-utils)",
    ) as running:
        yield running
