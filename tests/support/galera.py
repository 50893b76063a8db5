"""GaleraCluster: a throwaway three-node MariaDB Galera cluster on loopback for tests.

Usage::

    with GaleraCluster() as cluster:
        cluster.urls  # one mysql+mysqldb:// URL per node, same database

Each node is a ``mariadbd`` with ``wsrep`` on (Debian's ``galera-4`` provider), in its own
directory under one temporary directory, replicating over 127.0.0.1 ports; the first node
bootstraps the cluster and the others join it by rsync state transfer. As with
MariaDBServer, the programs run as the ``mysql`` user when the suite runs as root, and
leaving the context stops every node by its pid and deletes the directory.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.mariadb import (
    HOST,
    MariaDBStartError,
    MariaDBUnavailableError,
    RunAs,
    choose_run_as,
    find_programs,
)
from tests.support.processes import free_port
from tests.support.required import required
from tests.support.service_user import run_program
from tests.support.waiting import wait_until

PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")
SYNC_TIMEOUT_S = 180.0
COMMAND_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class _Node:
    directory: Path
    port: int
    replication_port: int
    ist_port: int
    sst_port: int

    @property
    def socket(self) -> Path:
        return self.directory / "mariadb.sock"

    @property
    def log_path(self) -> Path:
        return self.directory / "mariadb.log"


class GaleraCluster:
    """Run a Galera cluster of ``size`` nodes while the context is open."""

    def __init__(
        self, *, size: int = 3, database: str = "kvmcloud_test", user: str = "kvmcloud"
    ) -> None:
        self.size = size
        self.database = database
        self.user = user
        self._directory: Path | None = None
        self._nodes: list[_Node] = []
        self._processes: list[subprocess.Popen[bytes]] = []
        self._run_as = RunAs()

    @property
    def urls(self) -> list[str]:
        """SQLAlchemy URL of the database on each node, first node first."""
        if not self._nodes:
            raise RuntimeError("GaleraCluster is not running")
        return [
            f"mysql+mysqldb://{self.user}@{HOST}:{node.port}/{self.database}"
            for node in self._nodes
        ]

    def __enter__(self) -> "GaleraCluster":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Initialise and start every node, wait until each is Synced, create the database.

        Raises:
            MariaDBUnavailableError: no MariaDB binaries, or no Galera provider.
            MariaDBStartError: a node did not come up or did not join.
        """
        if not PROVIDER.is_file():
            raise MariaDBUnavailableError(f"no Galera provider {PROVIDER}; install galera-4")
        if shutil.which("rsync") is None:
            raise MariaDBUnavailableError("no rsync for Galera's state transfer; install rsync")
        programs = find_programs()
        self._run_as = choose_run_as()
        self._directory = Path(tempfile.mkdtemp(prefix="kvmcloud-galera-"))
        try:
            self._start_in(programs.install_db, programs.server, programs.client)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL, by pid) and delete the directory."""
        for process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT_S)
                continue
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)
        self._processes = []
        self._nodes = []
        if self._directory is not None:
            shutil.rmtree(self._directory)
            self._directory = None

    def _start_in(self, install_db: Path, server: Path, client: Path) -> None:
        assert self._directory is not None
        self._chown(self._directory)
        for number in range(self.size):
            directory = self._directory / f"node{number}"
            directory.mkdir()
            self._chown(directory)
            self._run(
                install_db,
                "--no-defaults",
                f"--datadir={directory / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                cwd=directory,
            )
            self._nodes.append(_Node(directory, free_port(), free_port(), free_port(), free_port()))
        members = ",".join(f"{HOST}:{node.replication_port}" for node in self._nodes)
        for number, node in enumerate(self._nodes):
            self._start_node(server, client, node, members, bootstrap=number == 0)
        self._run(
            client,
            "--no-defaults",
            f"--socket={self._nodes[0].socket}",
            "--user=root",
            f"--execute=CREATE DATABASE `{self.database}`;"
            f"CREATE USER '{self.user}'@'{HOST}';"
            f"GRANT ALL ON `{self.database}`.* TO '{self.user}'@'{HOST}';",
            cwd=self._nodes[0].directory,
        )

    def _start_node(
        self, server: Path, client: Path, node: _Node, members: str, *, bootstrap: bool
    ) -> None:
        argv = [
            str(server),
            "--no-defaults",
            f"--datadir={node.directory / 'data'}",
            f"--socket={node.socket}",
            f"--port={node.port}",
            f"--bind-address={HOST}",
            "--skip-name-resolve",
            "--performance-schema=OFF",
            "--innodb-buffer-pool-size=64M",
            "--innodb-flush-log-at-trx-commit=0",
            # What Galera requires: row-based replication, interleaved auto-increment locks.
            "--binlog-format=ROW",
            "--innodb-autoinc-lock-mode=2",
            "--wsrep-on=ON",
            f"--wsrep-provider={PROVIDER}",
            "--wsrep-cluster-name=kvmcloud-test",
            f"--wsrep-cluster-address=gcomm://{members}",
            f"--wsrep-node-address={HOST}:{node.replication_port}",
            f"--wsrep-provider-options=gmcast.listen_addr=tcp://{HOST}:{node.replication_port};"
            f"ist.recv_addr={HOST}:{node.ist_port};gcache.size=32M",
            "--wsrep-sst-method=rsync",
            f"--wsrep-sst-receive-address={HOST}:{node.sst_port}",
        ]
        if bootstrap:
            argv.append("--wsrep-new-cluster")
        with node.log_path.open("ab") as log:
            process = subprocess.Popen(
                argv,
                cwd=node.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                user=self._run_as.uid,
                group=self._run_as.gid,
                extra_groups=None if self._run_as.uid is None else [],
            )
        self._processes.append(process)

        def synced() -> bool:
            if process.poll() is not None:
                raise MariaDBStartError(f"a Galera node exited\n{_tail(node.log_path)}")
            if not node.socket.exists():
                return False
            state = subprocess.run(
                [
                    str(client),
                    "--no-defaults",
                    f"--socket={node.socket}",
                    "--user=root",
                    "--skip-column-names",
                    "--execute=SHOW STATUS LIKE 'wsrep_local_state_comment'",
                ],
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
                user=self._run_as.uid,
                group=self._run_as.gid,
                extra_groups=None if self._run_as.uid is None else [],
            )
            return "Synced" in state.stdout

        if not wait_until(synced, timeout_s=SYNC_TIMEOUT_S, interval_s=0.5):
            raise MariaDBStartError(
                f"a Galera node was not Synced within {SYNC_TIMEOUT_S:g} s\n{_tail(node.log_path)}"
            )

    def _chown(self, path: Path) -> None:
        if self._run_as.uid is not None and self._run_as.gid is not None:
            os.chown(path, self._run_as.uid, self._run_as.gid)

    def _run(self, program: Path, *args: str, cwd: Path) -> None:
        run_program(
            [str(program), *args],
            run_as=self._run_as,
            cwd=cwd,
            timeout_s=COMMAND_TIMEOUT_S,
            failed=MariaDBStartError,
            log_tail=lambda: "",
        )


@contextlib.contextmanager
def galera_or_skip(cluster: GaleraCluster | None = None) -> Iterator[GaleraCluster]:
    """Run ``cluster`` (a default one if None); skip if it cannot run here, fail in CI."""
    with required(
        cluster or GaleraCluster(), unavailable=MariaDBUnavailableError, what="MariaDB Galera"
    ) as running:
        yield running


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "node log:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
