"""`make db-check`: migrations upgrade a fresh database and match the models, on every database.

SQLite in a temporary file; PostgreSQL and MariaDB on private servers started for the
check (tests/support), as the test suite does. Runs the real ``kvmcloud-server db upgrade``
and ``db check`` against each. ``--only sqlite`` (or postgresql, mariadb) narrows it.
"""

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.mariadb import MariaDBServer
from tests.support.postgres import PostgresServer

BACKENDS = ("sqlite", "postgresql", "mariadb")
COMMAND_TIMEOUT_S = 300


@contextlib.contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    """Yield the URL of an empty database on ``backend``, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'check.db'}"
    elif backend == "postgresql":
        with PostgresServer(database="kvmcloud_check") as server:
            yield server.url
    else:
        with MariaDBServer(database="kvmcloud_check") as server:
            yield server.url


def check(backend: str, server: Path) -> bool:
    """Upgrade a fresh database on ``backend`` and compare it with the models."""
    with tempfile.TemporaryDirectory() as directory, database(backend, Path(directory)) as url:
        env = {**os.environ, "KVMCLOUD_DATABASE_URL": url}
        for command in ("upgrade", "check"):
            done = subprocess.run(
                [str(server), "db", command],
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
            )
            if done.returncode != 0:
                print(f"db-check: {backend}: db {command} failed\n{done.stdout}{done.stderr}")
                return False
    print(f"db-check: {backend}: migrations upgrade a fresh database and match the models")
    return True


def main() -> int:
    """Check each backend; exit 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=BACKENDS, action="append")
    args = parser.parse_args()
    server = Path(sys.executable).parent / "kvmcloud-server"
    results = [check(backend, server) for backend in args.only or BACKENDS]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
