"""MariaDBServer: a throwaway MariaDB server (mariadb-install-db + mariadbd) on loopback for tests.

Usage::

    from tests.support.mariadb import MariaDBServer

    with MariaDBServer() as server:
        engine = sqlalchemy.create_engine(server.url)  # mysql+mysqldb://…

Tests that want "skip here, fail in CI" use :func:`mariadb_or_skip` instead.

mariadbd refuses to run as root without ``--user``. When the suite runs as root (CI
containers do), every MariaDB program runs as the ``mysql`` system user that Debian's
``mariadb-server`` package creates, and the server's directory is handed to that user.

The server is started with ``--no-defaults``: nothing from /etc/mysql applies, so its
default character set is the compiled-in latin1. That is deliberate: kvmcloud must not
depend on the server's or the database's defaults (it names utf8mb4 and utf8mb4_bin on
every table and connection itself).
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port
from tests.support.required import required
from tests.support.service_user import RunAs, log_tail, run_program
from tests.support.service_user import choose_run_as as _choose
from tests.support.waiting import wait_until

MARIADB_OS_USER = "mysql"
HOST = "127.0.0.1"
PROGRAMS = {
    "install_db": ("mariadb-install-db", "mysql_install_db"),
    "server": ("mariadbd", "mysqld"),
    "client": ("mariadb", "mysql"),
}
# Debian puts the server in /usr/sbin, which a non-root PATH may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])

STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 120.0
KILL_WAIT_S = 10.0

# Test servers hold nothing worth keeping: trade durability for speed, and keep them small
# (the e2e and fault suites run one next to libvirt on a 2-core machine).
_SERVER_OPTIONS = (
    "--skip-log-bin",
    "--skip-name-resolve",
    "--innodb-flush-log-at-trx-commit=0",
    "--innodb-doublewrite=0",
    "--innodb-buffer-pool-size=64M",
    "--innodb-log-file-size=32M",
    "--max-connections=400",
    "--performance-schema=OFF",
)


class MariaDBUnavailableError(RuntimeError):
    """MariaDB cannot run here: no binaries, or root with no unprivileged user to run as."""


class MariaDBStartError(RuntimeError):
    """The binaries are there but the server did not come up; the text carries the log."""


@dataclass(frozen=True, slots=True)
class _Programs:
    install_db: Path
    server: Path
    client: Path


class MariaDBServer:
    """Run a private MariaDB server in a temporary directory while the context is open.

    It listens on 127.0.0.1 at a free port and on a unix socket inside its directory, and
    holds one empty database that ``user`` (no password) may use fully. Leaving the context
    stops the server (SIGTERM to its pid, then SIGKILL) and deletes the directory.
    """

    def __init__(
        self,
        *,
        database: str = "kvmcloud_test",
        user: str = "kvmcloud",
        driver: str = "mysqldb",
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ) -> None:
        self.database = database
        self.user = user
        self.driver = driver
        self.host = HOST
        self._startup_timeout_s = startup_timeout_s
        self._port: int | None = None
        self._directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._run_as = RunAs()

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1."""
        if self._port is None:
            raise RuntimeError("MariaDBServer is not running")
        return self._port

    @property
    def directory(self) -> Path:
        """Temporary directory holding the data directory, the log and the unix socket."""
        if self._directory is None:
            raise RuntimeError("MariaDBServer is not running")
        return self._directory

    @property
    def pid(self) -> int:
        """Process id of mariadbd."""
        if self._process is None:
            raise RuntimeError("MariaDBServer is not running")
        return self._process.pid

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the test database over TCP, with the chosen driver."""
        return f"mysql+{self.driver}://{self.user}@{self.host}:{self.port}/{self.database}"

    def url_of(self, database: str) -> str:
        """SQLAlchemy URL of another database on this server (see create_database)."""
        return f"mysql+{self.driver}://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, database: str) -> str:
        """Create another empty database that ``user`` may use fully; return its URL."""
        self._sql(
            find_programs().client,
            f"CREATE DATABASE `{database}`;"
            f"GRANT ALL ON `{database}`.* TO '{self.user}'@'{HOST}';"
            f"GRANT ALL ON `{database}`.* TO '{self.user}'@'localhost';",
        )
        return self.url_of(database)

    def drop_database(self, database: str) -> None:
        """Drop a database made by create_database."""
        self._sql(find_programs().client, f"DROP DATABASE `{database}`;")

    @property
    def socket_path(self) -> Path:
        """The server's unix socket."""
        return self.directory / "mariadb.sock"

    @property
    def log_path(self) -> Path:
        """The server's error log."""
        return self.directory / "mariadb.log"

    def __enter__(self) -> "MariaDBServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Create the data directory, start the server, create the database and user.

        Raises:
            MariaDBUnavailableError: no MariaDB binaries, or no user to run them as.
            MariaDBStartError: mariadb-install-db, the server or the setup SQL failed.
        """
        if self._directory is not None:
            raise RuntimeError("MariaDBServer is already running")
        programs = find_programs()
        self._run_as = choose_run_as()
        self._directory = Path(tempfile.mkdtemp(prefix="kvmcloud-mariadb-"))
        try:
            self._start_in(programs)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server if it runs and delete its directory; safe to call twice."""
        directory = self._directory
        if directory is None:
            return
        process = self._process
        if process is not None and process.poll() is None:
            self._stop_server(process)
        shutil.rmtree(directory)
        self._directory = None
        self._port = None
        self._process = None

    def _start_in(self, programs: _Programs) -> None:
        directory = self.directory
        if self._run_as.uid is not None and self._run_as.gid is not None:
            os.chown(directory, self._run_as.uid, self._run_as.gid)
        data = directory / "data"
        self._run(
            programs.install_db,
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
            timeout_s=COMMAND_TIMEOUT_S,
        )
        # The kernel picks a free port; the tiny window before mariadbd binds it is accepted.
        self._port = free_port()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    str(programs.server),
                    "--no-defaults",
                    f"--datadir={data}",
                    f"--socket={self.socket_path}",
                    f"--port={self._port}",
                    f"--bind-address={HOST}",
                    f"--pid-file={directory / 'mariadb.pid'}",
                    *_SERVER_OPTIONS,
                ],
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                user=self._run_as.uid,
                group=self._run_as.gid,
                extra_groups=None if self._run_as.uid is None else [],
            )
        if not wait_until(self._ready, timeout_s=self._startup_timeout_s, interval_s=0.1):
            raise MariaDBStartError(
                f"mariadbd did not accept connections within {self._startup_timeout_s:g} s\n"
                f"{self._log_tail()}"
            )
        self._sql(
            programs.client,
            f"CREATE DATABASE `{self.database}`;"
            f"CREATE USER '{self.user}'@'{HOST}';"
            f"CREATE USER '{self.user}'@'localhost';"
            f"GRANT ALL ON `{self.database}`.* TO '{self.user}'@'{HOST}';"
            f"GRANT ALL ON `{self.database}`.* TO '{self.user}'@'localhost';",
        )

    def _ready(self) -> bool:
        process = self._process
        if process is not None and process.poll() is not None:
            raise MariaDBStartError(
                f"mariadbd exited with {process.returncode}\n{self._log_tail()}"
            )
        return self.socket_path.exists()

    def _sql(self, client: Path, statements: str) -> None:
        self._run(
            client,
            "--no-defaults",
            f"--socket={self.socket_path}",
            "--user=root",
            f"--execute={statements}",
            timeout_s=COMMAND_TIMEOUT_S,
        )

    def _stop_server(self, process: "subprocess.Popen[bytes]") -> None:
        # SIGTERM is mariadbd's clean shutdown; end it by its own pid, never by name.
        for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, KILL_WAIT_S)):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=wait_s)
                return
        raise MariaDBStartError(f"mariadbd {process.pid} did not exit after SIGKILL")

    def _run(self, program: Path, *args: str, timeout_s: float) -> None:
        run_program(
            [str(program), *args],
            run_as=self._run_as,
            cwd=self._directory,
            timeout_s=timeout_s,
            failed=MariaDBStartError,
            log_tail=self._log_tail,
        )

    def _log_tail(self) -> str:
        return log_tail(None if self._directory is None else self.log_path)


@contextlib.contextmanager
def mariadb_or_skip(server: MariaDBServer | None = None) -> Iterator[MariaDBServer]:
    """Run ``server`` (a default one if None); skip if MariaDB is unavailable, fail in CI."""
    with required(
        server or MariaDBServer(), unavailable=MariaDBUnavailableError, what="MariaDB"
    ) as running:
        yield running


def find_programs() -> _Programs:
    """Find mariadb-install-db, mariadbd and the mariadb client (or their mysql names).

    Raises:
        MariaDBUnavailableError: one of them is missing.
    """
    found: dict[str, Path] = {}
    for role, names in PROGRAMS.items():
        for name in names:
            path = shutil.which(name, path=SEARCH_PATH)
            if path is not None:
                found[role] = Path(path)
                break
        else:
            raise MariaDBUnavailableError(
                f"no {names[0]} on PATH or in /usr/sbin; install the mariadb-server package"
            )
    return _Programs(**found)


def choose_run_as() -> RunAs:
    """Whom to run MariaDB's programs as (mariadbd refuses root)."""
    return _choose(
        MARIADB_OS_USER,
        refuses="mariadbd",
        package="mariadb-server",
        unavailable=MariaDBUnavailableError,
    )
