"""CephCluster: a throwaway single-node Ceph (one mon, one memstore OSD) on loopback.

Usage::

    from tests.support.ceph import ceph_or_skip

    with ceph_or_skip() as cluster:        # skips locally, fails in CI, when Ceph can't run
        cluster.mon_host                   # "127.0.0.1:<v1 port>" for libvirt and qemu rbd:
        cluster.pool, cluster.user, cluster.key

What makes it work here (Debian 12, Ceph 16.2.15, no systemd, no loop device): the monitor
is created with ``monmaptool --addv`` (v2 and v1 ports, both free ports on 127.0.0.1) and
``ceph-mon --mkfs``; the OSD uses ``osd objectstore = memstore``, so there is no block
device at all and its data lives in RAM (test images must stay small: a few MiB each).
There is no mgr: ``ceph df`` shows zeros, the pool is created and read without it.
``osd pool default size = 1`` with ``mon allow pool size one`` and ``osd crush chooseleaf
type = 0`` let one OSD make every placement group active. The admin keyring is under
``[client]``, not ``[global]``: the OSD would otherwise authenticate as client.admin.

The monitor is ready in about 1 s; the pool usable in 10-14 s, which is why the tests use
one cluster per module or session. Tests get a non-admin user (``client.kvmcloud``, caps
``profile rbd`` on the pool), like an operator would give CloudStack.

Daemons run in the foreground (``-f``) as children of the test process and are stopped by
those PIDs: SIGTERM, then SIGKILL after a bounded wait. Every wait is bounded.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tests.support.processes import Daemon, free_port
from tests.support.required import required

HOST = "127.0.0.1"
POOL = "kvmcloud"
USER = "kvmcloud"
# Below pytest-timeout's 60 s per test, so a slow start fails with the daemons' logs.
READY_TIMEOUT_S = 45.0
STOP_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 20.0
REQUIRED_PROGRAMS = ("ceph-mon", "ceph-osd", "ceph", "rbd", "monmaptool", "ceph-authtool")
_POLL_S = 0.2
# memstore holds everything in RAM; 1 GiB of device is plenty for test images of a few MiB.
_MEMSTORE_BYTES = 1024 * 1024 * 1024

_CONFIG = """\
[global]
fsid = {fsid}
mon host = [v2:{host}:{v2_port},v1:{host}:{v1_port}]
public addr = {host}
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
run dir = {directory}/run
admin socket = {directory}/run/$cluster-$name.asok
log file = {directory}/log/$cluster-$name.log
pid file = {directory}/run/$cluster-$name.pid
ms bind ipv6 = false
client mount timeout = 15
rados mon op timeout = 15
rados osd op timeout = 30

[mon]
mon data = {directory}/mon/$cluster-$id
mon initial members = a

[osd]
osd data = {directory}/osd/$cluster-$id
keyring = {directory}/osd/$cluster-$id/keyring
osd objectstore = memstore
memstore device bytes = {memstore_bytes}
osd max object name len = 256
osd max object namespace len = 64

[client]
keyring = {directory}/admin.keyring
"""


class CephUnavailableError(RuntimeError):
    """Ceph cannot run here: programs missing, or not root."""


class CephStartError(RuntimeError):
    """The daemons were started but the pool did not become usable; the text has the logs."""


class CephCluster:
    """One mon and one OSD on 127.0.0.1 while the context is open, with pool ``pool``."""

    def __init__(
        self,
        *,
        pool: str = POOL,
        user: str = USER,
        ready_timeout_s: float = READY_TIMEOUT_S,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        memstore_bytes: int = _MEMSTORE_BYTES,
    ) -> None:
        self.pool = pool
        # The OSD's whole store, held in RAM: the benchmark's 2 GiB images need more.
        self.memstore_bytes = memstore_bytes
        self.user = user
        self.key = ""
        self.fsid = ""
        self.v1_port = 0
        self.v2_port = 0
        self.startup_s: float | None = None
        self._ready_timeout_s = ready_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._directory: Path | None = None
        self._mon: Daemon | None = None
        self._osd: Daemon | None = None

    @property
    def directory(self) -> Path:
        assert self._directory is not None, "the cluster is not running"
        return self._directory

    @property
    def conf_path(self) -> Path:
        """ceph.conf of the cluster (admin keyring under ``[client]``), for the CLIs."""
        return self.directory / "ceph.conf"

    @property
    def mon_host(self) -> str:
        """``127.0.0.1:<v1 port>``: the monitor address libvirt and qemu's ``rbd:`` take."""
        return f"{HOST}:{self.v1_port}"

    @property
    def started_pids(self) -> list[int]:
        return [c.process.pid for c in (self._mon, self._osd) if c is not None]

    def __enter__(self) -> "CephCluster":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Create and start the mon and the OSD; wait (bounded) until the pool is usable.

        Raises:
            CephUnavailableError: programs missing or not root.
            CephStartError: a daemon exited or the pool was not usable in time (both have
                been stopped again).
        """
        if self._mon is not None:
            raise RuntimeError("CephCluster is already running")
        missing = [name for name in REQUIRED_PROGRAMS if shutil.which(name) is None]
        if missing:
            raise CephUnavailableError(
                f"{', '.join(missing)} not found; install ceph-mon, ceph-osd and ceph-common"
            )
        if os.geteuid() != 0:
            raise CephUnavailableError("the test cluster's daemons run as root")
        self._directory = Path(tempfile.mkdtemp(prefix="kvmcloud-ceph-"))
        started = time.monotonic()
        deadline = started + self._ready_timeout_s
        try:
            self._start_mon(deadline)
            self._start_osd(deadline)
            self._create_pool(deadline)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started

    def stop(self) -> None:
        """Stop the OSD, then the mon, by PID; remove the directory; safe to call twice."""
        for child in (self._osd, self._mon):
            if child is not None:
                child.stop(self._stop_timeout_s)
        self._osd = self._mon = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def admin(
        self, *args: str, input: bytes | None = None, timeout_s: float = COMMAND_TIMEOUT_S
    ) -> str:
        """Run ``ceph``/``rbd``/… (``args[0]``) as client.admin against this cluster."""
        completed = subprocess.run(
            [args[0], "--conf", str(self.conf_path), *args[1:]],
            input=input,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
        if completed.returncode != 0:
            raise CephStartError(
                f"{' '.join(args[:3])} failed ({completed.returncode}): "
                f"{completed.stderr.decode(errors='replace')[-1500:]}"
            )
        return completed.stdout.decode()

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in sorted((self.directory / "log").glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name} ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def _run(self, argv: Sequence[str]) -> None:
        completed = subprocess.run(
            list(argv), capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
        if completed.returncode != 0:
            raise CephStartError(
                f"{argv[0]} failed ({completed.returncode}): "
                f"{completed.stderr.decode(errors='replace')[-1500:]}"
            )

    def _start_mon(self, deadline: float) -> None:
        directory = self.directory
        for sub in ("run", "log", "mon", "osd/ceph-0"):
            (directory / sub).mkdir(parents=True)
        self.fsid = str(uuid.uuid4())
        self.v1_port, self.v2_port = free_port(), free_port()
        self.conf_path.write_text(
            _CONFIG.format(
                fsid=self.fsid,
                host=HOST,
                v1_port=self.v1_port,
                v2_port=self.v2_port,
                directory=directory,
                memstore_bytes=self.memstore_bytes,
            )
        )
        mon_keyring = directory / "mon.keyring"
        admin_keyring = directory / "admin.keyring"
        self._run(
            ["ceph-authtool", "--create-keyring", str(mon_keyring), "--gen-key", "-n", "mon.",
             "--cap", "mon", "allow *"]
        )  # fmt: skip
        self._run(
            ["ceph-authtool", "--create-keyring", str(admin_keyring), "--gen-key",
             "-n", "client.admin", "--cap", "mon", "allow *", "--cap", "osd", "allow *",
             "--cap", "mgr", "allow *"]
        )  # fmt: skip
        self._run(["ceph-authtool", str(mon_keyring), "--import-keyring", str(admin_keyring)])
        monmap = directory / "monmap"
        self._run(
            ["monmaptool", "--create", "--fsid", self.fsid, "--addv", "a",
             f"[v2:{HOST}:{self.v2_port},v1:{HOST}:{self.v1_port}]", str(monmap)]
        )  # fmt: skip
        conf = ["--conf", str(self.conf_path)]
        self._run(
            ["ceph-mon", *conf, "--mkfs", "-i", "a", "--monmap", str(monmap),
             "--keyring", str(mon_keyring)]
        )  # fmt: skip
        self._mon = Daemon("ceph-mon", ["ceph-mon", *conf, "-f", "-i", "a"], directory / "mon.out")
        self._until(deadline, "the monitor answering", lambda: self._answers("ceph", "mon", "stat"))

    def _start_osd(self, deadline: float) -> None:
        osd_uuid = str(uuid.uuid4())
        osd_id = self.admin("ceph", "osd", "new", osd_uuid).strip()
        if osd_id != "0":
            raise CephStartError(f"ceph osd new gave id {osd_id!r}, expected 0")
        keyring = self.directory / "osd" / "ceph-0" / "keyring"
        self.admin(
            "ceph", "auth", "get-or-create", "osd.0", "mon", "allow profile osd",
            "osd", "allow *", "mgr", "allow profile osd", "-o", str(keyring),
        )  # fmt: skip
        conf = ["--conf", str(self.conf_path)]
        self._run(["ceph-osd", *conf, "-i", "0", "--mkfs", "--osd-uuid", osd_uuid])
        self._osd = Daemon(
            "ceph-osd", ["ceph-osd", *conf, "-f", "-i", "0"], self.directory / "osd.out"
        )

    def _create_pool(self, deadline: float) -> None:
        self.admin("ceph", "osd", "pool", "create", self.pool, "8", "8")
        self.admin("ceph", "osd", "pool", "application", "enable", self.pool, "rbd")
        # `rbd pool init` writes to the pool, so it succeeds only once the OSD is up and the
        # placement groups are active; the client's op timeout bounds each try.
        self._until(
            deadline,
            f"pool {self.pool} usable",
            lambda: self._answers("rbd", "pool", "init", self.pool),
        )
        self.key = self.admin(
            "ceph", "auth", "get-or-create-key", f"client.{self.user}",
            "mon", "profile rbd", "osd", f"profile rbd pool={self.pool}",
        ).strip()  # fmt: skip

    def _answers(self, *args: str) -> bool:
        try:
            self.admin(*args, timeout_s=15.0)
        except (CephStartError, subprocess.TimeoutExpired):
            return False
        return True

    def _until(self, deadline: float, what: str, check: Callable[[], bool]) -> None:
        while not check():
            for child in (self._mon, self._osd):
                if child is not None and child.process.poll() is not None:
                    raise CephStartError(
                        f"{child.name} exited with {child.process.returncode} while waiting "
                        f"for {what}:\n{self.log_tail()}"
                    )
            if time.monotonic() >= deadline:
                raise CephStartError(
                    f"no {what} within {self._ready_timeout_s:g} s:\n{self.log_tail()}"
                )
            time.sleep(_POLL_S)


@contextlib.contextmanager
def ceph_or_skip(cluster: CephCluster | None = None) -> Iterator[CephCluster]:
    """Run ``cluster`` (a default one if None); skip if Ceph can't run here, fail in CI."""
    with required(
        cluster or CephCluster(),
        unavailable=CephUnavailableError,
        what="Ceph (ceph-mon, ceph-osd, ceph-common)",
    ) as running:
        yield running
