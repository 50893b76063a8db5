"""PostgresServer: a throwaway PostgreSQL cluster (initdb + pg_ctl) on loopback for tests.

Usage::

    from tests.support.postgres import PostgresServer

    with PostgresServer() as server:
        engine = sqlalchemy.create_engine(server.url)  # postgresql+psycopg://…
        psycopg.connect(server.conninfo)               # or plain psycopg

Tests that want "skip here, fail in CI" use :func:`postgres_or_skip` instead.

initdb refuses to run as root. When the suite runs as root (CI containers do), every
PostgreSQL program runs as the ``postgres`` system user that Debian's ``postgresql`` package
creates, and the cluster's directory is handed to that user.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import free_port
from tests.support.required import required
from tests.support.service_user import RunAs, choose_run_as, log_tail, run_program
from tests.support.waiting import wait_until

POSTGRES_OS_USER = "postgres"
# Debian installs each major version side by side as /usr/lib/postgresql/<version>/bin.
DEBIAN_ROOT = Path("/usr/lib/postgresql")
REQUIRED_PROGRAMS = ("initdb", "pg_ctl", "postgres", "createdb")
HOST = "127.0.0.1"

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
# initdb writes a few hundred files; this bounds it on a slow disk.
COMMAND_TIMEOUT_S = 120.0
KILL_WAIT_S = 10.0

# Test clusters hold nothing worth keeping: trade durability for speed.
_SERVER_SETTINGS = """
fsync = off
synchronous_commit = off
full_page_writes = off
"""


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL cannot run here: no binaries, or root with no unprivileged user to run as."""


class PostgresStartError(RuntimeError):
    """The binaries are there but the cluster did not come up; the text carries the log."""


class PostgresServer:
    """Run a private PostgreSQL cluster in a temporary directory while the context is open.

    It listens on 127.0.0.1 at a free port and on a unix socket inside its directory,
    trusts every local connection, and holds one empty database. Leaving the context stops
    the server (``pg_ctl stop -m fast``, then signals to its pid) and deletes the directory.
    """

    def __init__(
        self,
        *,
        database: str = "kvmcloud_test",
        user: str = "kvmcloud",
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        bindir: Path | None = None,
    ) -> None:
        self.database = database
        self.user = user
        self.host = HOST
        self._startup_timeout_s = startup_timeout_s
        self._bindir = bindir
        self._port: int | None = None
        self._directory: Path | None = None
        self._pid: int | None = None
        self._run_as = RunAs()

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1."""
        if self._port is None:
            raise RuntimeError("PostgresServer is not running")
        return self._port

    @property
    def directory(self) -> Path:
        """Temporary directory holding the data directory, the log and the unix socket."""
        if self._directory is None:
            raise RuntimeError("PostgresServer is not running")
        return self._directory

    @property
    def pid(self) -> int:
        """Process id of the postmaster."""
        if self._pid is None:
            raise RuntimeError("PostgresServer is not running")
        return self._pid

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the test database, using the psycopg 3 driver."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def conninfo(self) -> str:
        """libpq connection string of the test database, for psycopg.connect()."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.database}"

    @property
    def socket_directory(self) -> Path:
        """Directory of the unix socket (``.s.PGSQL.<port>``)."""
        return self.directory

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.directory / "postgres.log"

    def __enter__(self) -> "PostgresServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Create the cluster and database and start the server; clean up if any step fails.

        Raises:
            PostgresUnavailableError: no PostgreSQL binaries, or no user to run them as.
            PostgresStartError: initdb, the server or createdb failed.
        """
        if self._directory is not None:
            raise RuntimeError("PostgresServer is already running")
        bindir = self._bindir or find_bindir()
        self._run_as = _choose_run_as()
        self._directory = Path(tempfile.mkdtemp(prefix="kvmcloud-pg-"))
        try:
            self._start_in(bindir)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server if it runs and delete its directory; safe to call twice."""
        directory = self._directory
        if directory is None:
            return
        data = directory / "data"
        if (data / "postmaster.pid").exists():
            self._stop_server(data)
        shutil.rmtree(directory)
        self._directory = None
        self._port = None
        self._pid = None

    def _start_in(self, bindir: Path) -> None:
        directory = self.directory
        if self._run_as.uid is not None and self._run_as.gid is not None:
            os.chown(directory, self._run_as.uid, self._run_as.gid)
        data = directory / "data"
        self._run(
            bindir / "initdb",
            "--pgdata",
            str(data),
            "--username",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            timeout_s=COMMAND_TIMEOUT_S,
        )
        # The kernel picks a free port; the tiny window before postgres binds it is accepted.
        self._port = free_port()
        # Appending keeps the file's owner (the postgres user) even when we are root.
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(_SERVER_SETTINGS)
            conf.write(f"listen_addresses = '{HOST}'\nport = {self._port}\n")
            conf.write(f"unix_socket_directories = '{directory}'\n")
        # -w: pg_ctl returns once the postmaster reports "ready" (sockets open) or has died.
        self._run(
            bindir / "pg_ctl",
            "--pgdata",
            str(data),
            "--log",
            str(self.log_path),
            "--wait",
            "--timeout",
            str(max(1, round(self._startup_timeout_s))),
            "start",
            timeout_s=self._startup_timeout_s + 10.0,
        )
        self._pid = int((data / "postmaster.pid").read_text().split()[0])
        self._run(
            bindir / "createdb",
            "--host",
            HOST,
            "--port",
            str(self._port),
            "--username",
            self.user,
            self.database,
            timeout_s=COMMAND_TIMEOUT_S,
        )

    def _stop_server(self, data: Path) -> None:
        bindir = self._bindir or find_bindir()
        with contextlib.suppress(PostgresStartError):
            self._run(
                bindir / "pg_ctl",
                "--pgdata",
                str(data),
                "--mode",
                "fast",
                "--wait",
                "--timeout",
                str(round(STOP_TIMEOUT_S)),
                "stop",
                timeout_s=STOP_TIMEOUT_S + 10.0,
            )
        # pg_ctl failing leaves a postmaster behind; end it by its own pid, never by name.
        pid = self._pid
        if pid is None or not _is_running(pid):
            return
        for sig in (signal.SIGQUIT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            if _wait_for_exit(pid, KILL_WAIT_S):
                return
        raise PostgresStartError(f"postmaster {pid} did not exit after SIGKILL")

    def _run(self, program: Path, *args: str, timeout_s: float) -> None:
        run_program(
            [str(program), *args],
            run_as=self._run_as,
            cwd=self._directory,
            timeout_s=timeout_s,
            failed=PostgresStartError,
            log_tail=self._log_tail,
        )

    def _log_tail(self) -> str:
        return log_tail(None if self._directory is None else self.log_path)


@contextlib.contextmanager
def postgres_or_skip(server: PostgresServer | None = None) -> Iterator[PostgresServer]:
    """Run ``server`` (a default one if None); skip if PostgreSQL is unavailable, fail in CI.

    CI is recognised by ``CI=true``, where a missing PostgreSQL is a broken setup, not a
    reason to skip.
    """
    with required(
        server or PostgresServer(), unavailable=PostgresUnavailableError, what="PostgreSQL"
    ) as running:
        yield running


def find_bindir() -> Path:
    """Find the PostgreSQL programs: pg_config, then PATH, then the newest Debian version.

    Raises:
        PostgresUnavailableError: no directory has every program needed.
    """
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            reported = subprocess.run(
                [pg_config, "--bindir"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            candidates.append(Path(reported))
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).parent)
    candidates.extend(sorted(DEBIAN_ROOT.glob("*/bin"), key=_version_key, reverse=True))
    for bindir in candidates:
        if all((bindir / program).is_file() for program in REQUIRED_PROGRAMS):
            return bindir
    raise PostgresUnavailableError(
        f"no PostgreSQL server binaries ({', '.join(REQUIRED_PROGRAMS)}) via pg_config, "
        f"PATH or {DEBIAN_ROOT}/*/bin; install the postgresql package"
    )


def _choose_run_as() -> RunAs:
    return choose_run_as(
        POSTGRES_OS_USER,
        refuses="initdb",
        package="postgresql",
        unavailable=PostgresUnavailableError,
    )


def _version_key(bindir: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin → (15,); "9.6" → (9, 6); anything odd sorts first.
    version = bindir.parent.name
    parts = version.split(".")
    return tuple(int(part) for part in parts) if all(p.isdigit() for p in parts) else (-1,)


def _is_running(pid: int) -> bool:
    # Linux only. The postmaster is not our child, and a container's pid 1 may never reap
    # it, so a zombie counts as gone (os.kill(pid, 0) would still succeed on it).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def _wait_for_exit(pid: int, timeout_s: float) -> bool:
    return wait_until(lambda: not _is_running(pid), timeout_s=timeout_s, interval_s=0.05)
