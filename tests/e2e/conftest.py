"""A running kvmcloud: server and agent as real processes, an origin on loopback, a database.

The stack is built once per module and per database backend (SQLite, and a PostgreSQL and
a MariaDB server the suite starts itself), and driven by the unmodified ``cs`` client from
PyPI.
"""

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cs import CloudStack
from sqlalchemy import Engine, create_engine, text

from tests.support.egress import ALLOW_SETTING, LOOPBACK
from tests.support.images import make_qcow2
from tests.support.mariadb import MariaDBServer, mariadb_or_skip
from tests.support.origin import Origin
from tests.support.postgres import PostgresServer, postgres_or_skip
from tests.support.processes import (
    AdminKeys,
    ManagedProcess,
    free_port,
    init_server,
    running_processes,
    start_agent,
    start_server,
)
from tests.support.trust import agent_token

pytestmark = pytest.mark.e2e

HEADER = ("X-Auth-Token", "e2e-secret")
JOB_TIMEOUT_S = 120.0
LOG_LINES_ON_FAILURE = 120


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the tails of the running servers' and agents' logs to a failing test's report.

    CI keeps only the test output; without the processes' side a flaky failure cannot be
    explained afterwards.
    """
    report = yield
    if report.failed:
        for process in running_processes():
            report.sections.append(
                (
                    f"{process.name} log, last {LOG_LINES_ON_FAILURE} lines",
                    process.log_tail(LOG_LINES_ON_FAILURE),
                )
            )
    return report


@dataclass
class Stack:
    """Everything an end-to-end test needs."""

    api: CloudStack
    endpoint: str
    keys: AdminKeys
    db: Engine
    database_url: str
    server: ManagedProcess
    agent: ManagedProcess
    agent_url: str
    agent_token: str
    origin: Origin
    image_path: str
    image_sha256: str
    pool_path: Path
    zone_id: str
    pool_id: str
    host_id: str
    workdir: Path
    agent_port: int = 0
    # The server's agent CA and certificates (KVMCLOUD_CONFIG_DIR/pki).
    config_dir: Path = Path()
    agent_env: dict[str, str] = field(default_factory=dict)

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]

    def pool_files(self) -> list[str]:
        return sorted(
            str(p.relative_to(self.pool_path)) for p in self.pool_path.rglob("*") if p.is_file()
        )


def register_template(
    stack: Stack, name: str, path: str | None = None, api: CloudStack | None = None
) -> dict[str, Any]:
    """Register a direct-download template of ``path`` (the stack's image) on the origin."""
    template: dict[str, Any] = (api or stack.api).registerTemplate(
        name=name,
        displaytext=name,
        url=stack.origin.url(path or stack.image_path),
        format="QCOW2",
        hypervisor="KVM",
        zoneid=stack.zone_id,
        directdownload=True,
        checksum=f"{{SHA-256}}{stack.image_sha256}",
        details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
    )["template"][0]
    return template


def add_host(stack: Stack, port: int, state_dir: Path) -> dict[str, Any]:
    """addHost the agent listening on ``port`` (its state in ``state_dir``) to the cluster."""
    cluster = stack.api.listClusters()["cluster"][0]
    host: dict[str, Any] = stack.api.addHost(
        zoneid=stack.zone_id,
        podid=cluster["podid"],
        clusterid=cluster["id"],
        hypervisor="KVM",
        url=f"http://127.0.0.1:{port}",
        username="root",
        password=agent_token(state_dir),
    )["host"][0]
    return host


def wait_jobs(
    api: CloudStack, job_ids: list[str], timeout_s: float = JOB_TIMEOUT_S
) -> list[dict[str, Any]]:
    """Follow jobs to their end (cs's fetch_result off, to read failed jobs' errortext)."""
    deadline = time.monotonic() + timeout_s
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(job_ids):
        for job_id in job_ids:
            if job_id not in done:
                result = api.queryAsyncJobResult(jobid=job_id, fetch_result=False)
                if result["jobstatus"] != 0:
                    done[job_id] = result
        if len(done) < len(job_ids):
            assert time.monotonic() < deadline, (
                f"{len(job_ids) - len(done)} of {len(job_ids)} jobs still running after "
                f"{timeout_s} s"
            )
            time.sleep(0.3)
    return [done[j] for j in job_ids]


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db')}/kvmcloud.db"
        return
    if request.param == "mariadb":
        with mariadb_or_skip(MariaDBServer(database="kvmcloud_e2e")) as mariadb:
            yield mariadb.url
        return
    with postgres_or_skip(PostgresServer(database="kvmcloud_e2e")) as server:
        yield server.url


@contextmanager
def running_stack(
    database_url: str, workdir: Path, agent_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """Start a server and an agent, build a zone with one host and one cluster-wide pool."""
    pool_path = workdir / "pool"
    pool_path.mkdir()
    images = workdir / "images"
    images.mkdir()
    digest = make_qcow2(images / "tiny.qcow2")
    assert digest == hashlib.sha256((images / "tiny.qcow2").read_bytes()).hexdigest()
    config_dir = workdir / "server-config"
    keys = init_server(database_url, workdir / "init.log", config_dir)
    server_port, agent_port = free_port(), free_port()
    server = start_server(database_url, server_port, workdir / "server.log", config_dir)
    agent = start_agent(agent_port, workdir / "agent-state", workdir / "agent.log", agent_env)
    token = agent_token(workdir / "agent-state")
    endpoint = f"http://127.0.0.1:{server_port}/client/api"
    api = CloudStack(
        endpoint=endpoint,
        key=keys.api_key,
        secret=keys.secret_key,
        fetch_result=True,
        poll_interval=0.2,
        job_timeout=180,
    )
    db = create_engine(database_url)
    with Origin(directory=images, require_header=HEADER) as origin:
        try:
            zone = api.createZone(name="zone1", networktype="Advanced", dns1="127.0.0.53")["zone"]
            # The origins listen on loopback, which the egress policy denies by default.
            api.updateConfiguration(name=ALLOW_SETTING, value=LOOPBACK, zoneid=zone["id"])
            pod = api.createPod(name="pod1", zoneid=zone["id"])["pod"]
            cluster = api.addCluster(
                clustername="c1", zoneid=zone["id"], podid=pod["id"], hypervisor="KVM"
            )["cluster"][0]
            host = api.addHost(
                zoneid=zone["id"],
                podid=pod["id"],
                clusterid=cluster["id"],
                hypervisor="KVM",
                url=f"http://127.0.0.1:{agent_port}",
                username="root",
                password=token,
            )["host"][0]
            pool = api.createStoragePool(
                name="pool1",
                zoneid=zone["id"],
                clusterid=cluster["id"],
                url=f"SharedMountPoint://localhost{pool_path}",
            )["storagepool"]
            running = Stack(
                api=api,
                endpoint=endpoint,
                keys=keys,
                db=db,
                database_url=database_url,
                server=server,
                agent=agent,
                agent_url=f"https://127.0.0.1:{agent_port}",
                agent_token=token,
                origin=origin,
                image_path="/tiny.qcow2",
                image_sha256=digest,
                pool_path=pool_path,
                zone_id=zone["id"],
                pool_id=pool["id"],
                host_id=host["id"],
                workdir=workdir,
                agent_port=agent_port,
                agent_env=dict(agent_env or {}),
                config_dir=config_dir,
            )
            yield running
        finally:
            # A test may have replaced the agent or the server (restart): stop whichever runs
            # now, and the first ones too; a failing stop must not leave the others running.
            current = locals().get("running")
            processes = [agent, server] + (
                [current.agent, current.server] if current is not None else []
            )
            for process in processes:
                try:
                    process.stop()
                except Exception as exc:
                    print(f"could not stop {process.name}: {exc}")
            db.dispose()
            if os.environ.get("KVMCLOUD_E2E_SHOW_LOGS"):
                print(server.log_tail(200), agent.log_tail(200))


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(database_url, tmp_path_factory.mktemp("e2e")) as running:
        yield running
