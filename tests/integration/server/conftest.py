"""Fixtures for in-process server tests: a migrated database, the app, a signed client."""

import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from kvmcloud.protocol.api_signing import sign
from kvmcloud.server import db_migrations
from kvmcloud.server.accounts.service import ApiKeys, create_user_account, ensure_admin
from kvmcloud.server.agent_pki import AgentPki
from kvmcloud.server.app import (
    Services,
    build_registry,
    build_services,
    create_agent_app,
    create_app,
)
from kvmcloud.server.configuration.service import seed_definitions
from kvmcloud.server.db import Database, make_engine
from kvmcloud.server.sealing.keyfile import ensure_key_file, key_file_path
from kvmcloud.server.settings import ServerSettings
from kvmcloud.server.templates.guest_os import seed_guest_os
from tests.fakes import FAKE_TOKEN, FakeAgentClient, FakeClock
from tests.support.databases import BACKENDS, DatabaseServers
from tests.support.egress import ALLOW_SETTING, LOOPBACK
from tests.support.live_server import serve_in_thread
from tests.support.response_fields import answer_problems, result_problems

# Every answer a test gets is checked against the fields its command declares to listApis.
REGISTRY = build_registry()


@pytest.fixture(scope="session")
def migrated_db_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    db_migrations.upgrade(engine)
    engine.dispose()
    return path


@dataclass
class ServerHarness:
    """The app in-process with fake agents, a fake clock and signing helpers."""

    services: Services
    client: TestClient
    # The agent listener's app (/agent/v1), without TLS: the certificate check is off.
    agent_api: TestClient
    agents: FakeAgentClient
    clock: FakeClock
    admin: ApiKeys
    # The async command behind each job id this harness was given: its result is checked.
    jobs: dict[str, str] = field(default_factory=dict)
    # The commands whose answer carried at least one object, checked against its schema.
    answered: set[str] = field(default_factory=set)

    @property
    def db(self) -> Database:
        return self.services.db

    def call(
        self, command: str, keys: ApiKeys | None = None, *, method: str = "GET", **params: Any
    ) -> tuple[int, dict[str, Any]]:
        keys = keys or self.admin
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
        query.update({"command": command, "response": "json", "apiKey": keys.api_key})
        query["signature"] = sign(query, keys.secret_key)
        if method == "POST":
            response = self.client.post("/client/api", data=query)
        else:
            response = self.client.get("/client/api", params=query)
        body = response.json()
        assert len(body) == 1, body
        answer = next(iter(body.values()))
        if response.status_code == 200:
            self._check_fields(command, params, answer)
        return response.status_code, answer

    def _check_fields(
        self, command_name: str, params: Mapping[str, Any], answer: dict[str, Any]
    ) -> None:
        command = REGISTRY.lookup(command_name)
        if command is None:
            return
        problems = answer_problems(command, answer)
        if command.response is not None and not command.is_async and answer:
            self.answered.add(command.name)
        if command.is_async and "jobid" in answer:
            self.jobs[answer["jobid"]] = command.name
        job_command = REGISTRY.lookup(self.jobs.get(str(params.get("jobid")), ""))
        if command.name == "queryAsyncJobResult" and job_command and answer.get("jobstatus") == 1:
            problems += result_problems(job_command, answer.get("jobresult", {}))
            if job_command.response is not None:
                self.answered.add(job_command.name)
        assert not problems, problems

    def ok(self, command: str, **params: Any) -> dict[str, Any]:
        status, body = self.call(command, **params)
        assert status == 200, body
        return body

    def run_jobs(self) -> int:
        return sum(runner.run_until_idle() for runner in self.services.runners[:1])

    def user(self, name: str) -> ApiKeys:
        with self.db.transaction() as session:
            return create_user_account(session, name, self.clock(), self.services.box)


@pytest.fixture(scope="session")
def database_servers() -> Iterator[DatabaseServers]:
    servers = DatabaseServers()
    yield servers
    servers.close()


@pytest.fixture(params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest, database_servers: DatabaseServers, tmp_path: Path
) -> Iterator[str]:
    """A fresh database, migrated to head, on each of SQLite, PostgreSQL and MariaDB."""
    url = database_servers.create(request.param, tmp_path)
    engine = make_engine(url)
    db_migrations.upgrade(engine)
    engine.dispose()
    yield url
    database_servers.drop(url)


def seeded_services(
    migrated_db_file: Path, directory: Path
) -> tuple[Services, FakeAgentClient, FakeClock, ApiKeys]:
    """Services on a copy of the migrated database, seeded, with fake agents and clock."""
    path = directory / "kvmcloud.db"
    shutil.copy(migrated_db_file, path)
    return seeded_services_on(f"sqlite:///{path}", directory)


def seeded_services_on(
    url: str, directory: Path
) -> tuple[Services, FakeAgentClient, FakeClock, ApiKeys]:
    """Services on the migrated database at ``url``, seeded, with fake agents and clock."""
    settings = ServerSettings(database_url=url, job_workers=1, config_dir=directory / "etc")
    ensure_key_file(key_file_path(settings.config_dir))
    AgentPki.init(settings.pki_dir, [settings.agent_host], datetime.now(UTC))
    clock, agents = FakeClock(), FakeAgentClient()
    services = build_services(settings, agents=agents, clock=clock)
    with services.db.transaction() as session:
        seed_definitions(session, clock())
        seed_guest_os(session)
        admin = ensure_admin(session, clock(), services.box)
    return services, agents, clock, admin


@pytest.fixture
def server(migrated_db_file: Path, tmp_path: Path) -> Iterator[ServerHarness]:
    yield from harness(seeded_services(migrated_db_file, tmp_path))


@pytest.fixture
def server_on_each_database(db_url: str, tmp_path: Path) -> Iterator[ServerHarness]:
    """The harness on SQLite, PostgreSQL and MariaDB (a test using it runs three times)."""
    yield from harness(seeded_services_on(db_url, tmp_path))


def harness(
    seeded: tuple[Services, FakeAgentClient, FakeClock, ApiKeys],
) -> Iterator[ServerHarness]:
    """Run the app and the agent app of ``seeded`` services in test clients."""
    services, agents, clock, admin = seeded
    app = create_app(services, run_background=False)
    agent_app = create_agent_app(services, require_client_certificate=False)
    with TestClient(app) as client, TestClient(agent_app) as agent_api:
        yield ServerHarness(services, client, agent_api, agents, clock, admin)
    services.db.engine.dispose()


@dataclass
class Wire:
    """The same server behind real uvicorn and h11 on 127.0.0.1: what a client's socket sees."""

    base_url: str
    http: httpx.Client
    admin: ApiKeys

    def send(
        self, command: str, keys: ApiKeys | None = None, *, post: bool = False, **params: str
    ) -> httpx.Response:
        return self.send_params(command, params, keys, post=post)

    def send_params(
        self, command: str, params: Mapping[str, str], keys: ApiKeys | None, *, post: bool
    ) -> httpx.Response:
        keys = keys or self.admin
        query = {**params, "command": command, "response": "json", "apiKey": keys.api_key}
        query["signature"] = sign(query, keys.secret_key)
        if post:
            return self.http.post(f"{self.base_url}/client/api", data=query)
        return self.http.get(f"{self.base_url}/client/api", params=query)


@pytest.fixture
def wire(server: ServerHarness) -> Iterator[Wire]:
    app = create_app(server.services, run_background=False)
    with serve_in_thread(app) as base_url, httpx.Client(timeout=30) as http:
        yield Wire(base_url, http, server.admin)


@dataclass
class Cloud:
    """A zone with a pod, a cluster, one Up host and one pool, made through the API."""

    zone_id: str
    pod_id: str
    cluster_id: str
    host_id: str
    pool_id: str


AGENT_URL = "https://127.0.0.1:8252"


def build_cloud(server: ServerHarness) -> Cloud:
    """Make a zone, pod, cluster, one host (a fake agent) and one pool through the API."""
    server.agents.add(AGENT_URL)
    return make_cloud(server.ok)


def make_cloud(ok: Callable[..., dict[str, Any]]) -> Cloud:
    """Create the zone, pod, cluster, host (its agent must be known) and pool through ``ok``."""
    zone = ok("createZone", name="zone1", networktype="Advanced", dns1="8.8.8.8")["zone"]
    # The test origins listen on loopback, which the egress policy denies by default.
    ok("updateConfiguration", name=ALLOW_SETTING, value=LOOPBACK, zoneid=zone["id"])
    pod = ok("createPod", name="pod1", zoneid=zone["id"])["pod"]
    cluster = ok(
        "addCluster", clustername="c1", zoneid=zone["id"], podid=pod["id"], hypervisor="KVM"
    )["cluster"][0]
    host = ok(
        "addHost",
        zoneid=zone["id"],
        podid=pod["id"],
        clusterid=cluster["id"],
        url="http://127.0.0.1",
        username="root",
        password=FAKE_TOKEN,
        hypervisor="KVM",
    )["host"][0]
    pool = ok(
        "createStoragePool",
        name="pool1",
        zoneid=zone["id"],
        clusterid=cluster["id"],
        url="SharedMountPoint://localhost/var/lib/kvmcloud/pool1",
    )["storagepool"]
    return Cloud(zone["id"], pod["id"], cluster["id"], host["id"], pool["id"])


@pytest.fixture
def cloud(server: ServerHarness) -> Cloud:
    return build_cloud(server)
