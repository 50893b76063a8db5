"""What one heartbeat costs in SQL, batched last-seen times, cached settings — in-process."""

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, exc, select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.app import Services, build_services, create_agent_app
from kvmcloud.server.configuration.cache import SETTINGS_MAX_AGE_S, SettingsCache
from kvmcloud.server.configuration.definitions import PING_INTERVAL_S
from kvmcloud.server.db import make_engine
from kvmcloud.server.infrastructure.jobs import update_host_states
from kvmcloud.server.infrastructure.last_seen import flush_interval_s
from kvmcloud.server.infrastructure.models import Host
from tests.fakes import FakeAgent
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Collect the SQL statements sent on ``engine`` inside the block."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def beat(api: TestClient, cloud: Cloud, agent: FakeAgent, **fields: object) -> msg.HeartbeatReply:
    heartbeat = msg.Heartbeat(host_uuid=cloud.host_id, report=agent.report, **fields)  # type: ignore[arg-type]
    response = api.post(
        "/agent/v1/heartbeat",
        content=msg.to_json(heartbeat),
        headers={"Authorization": f"Bearer {agent.key}", "X-Kvmcloud-Host": cloud.host_id},
    )
    assert response.status_code == 200, response.text
    return msg.from_json(msg.HeartbeatReply, response.content)


def last_ping(server: ServerHarness, cloud: Cloud) -> object:
    with server.db.transaction() as session:
        return session.scalar(select(Host.last_ping).where(Host.uuid == cloud.host_id))


def test_an_unchanged_heartbeat_reads_the_host_once_and_writes_nothing(
    server: ServerHarness, cloud: Cloud
) -> None:
    agent = server.agents.agents[AGENT_URL]
    beat(server.agent_api, cloud, agent)  # warms the settings cache
    with statements(server.db.engine) as sent:
        beat(server.agent_api, cloud, agent)
    assert sent == ["SELECT"], sent
    # What a real agent sends every time: its domains and certificates (unchanged).
    beat(server.agent_api, cloud, agent, vm_states={}, certificates={})
    with statements(server.db.engine) as sent:
        beat(server.agent_api, cloud, agent, vm_states={}, certificates={})
    # The host row, and the host's VMs to compare with its domains.
    assert sent == ["SELECT", "SELECT"], sent


def test_heartbeat_times_are_written_in_one_batch(server: ServerHarness, cloud: Cloud) -> None:
    agent = server.agents.agents[AGENT_URL]
    before = last_ping(server, cloud)
    server.clock.advance(60)
    beat(server.agent_api, cloud, agent)
    assert last_ping(server, cloud) == before, "an unchanged beat waits for the batch"
    assert server.services.last_seen.pending() == 1
    with statements(server.db.engine) as sent:
        assert server.services.last_seen.flush(server.db) == 1
    assert sent == ["UPDATE"]
    assert last_ping(server, cloud) == server.clock()
    # A time older than the stored one (another server wrote a newer beat) is not kept.
    server.services.last_seen.note(
        agent_host_id(server, cloud), server.clock() - timedelta(seconds=30)
    )
    server.services.last_seen.flush(server.db)
    assert last_ping(server, cloud) == server.clock()


def test_a_changed_heartbeat_writes_the_row_at_once(server: ServerHarness, cloud: Cloud) -> None:
    agent = server.agents.agents[AGENT_URL]
    beat(server.agent_api, cloud, agent)
    server.clock.advance(60)
    agent.report = dataclasses.replace(agent.report, memory_bytes=agent.report.memory_bytes * 2)
    with statements(server.db.engine) as sent:
        beat(server.agent_api, cloud, agent)
    assert sent == ["SELECT", "UPDATE"], sent
    assert last_ping(server, cloud) == server.clock()
    host = server.ok("listHosts", id=cloud.host_id)["host"][0]
    assert host["memorytotal"] == agent.report.memory_bytes
    # Shutting down is a change of state: written at once too.
    with statements(server.db.engine) as sent:
        beat(server.agent_api, cloud, agent, shutting_down=True)
    assert "UPDATE" in sent
    assert server.ok("listHosts", id=cloud.host_id)["host"][0]["state"] == "Disconnected"


@pytest.fixture
def second_server(server: ServerHarness) -> Iterator[tuple[Services, TestClient]]:
    """Another management server on the same database, clock and agents."""
    services = build_services(server.services.settings, agents=server.agents, clock=server.clock)
    with TestClient(create_agent_app(services, require_client_certificate=False)) as api:
        yield services, api
    services.db.engine.dispose()


def test_beats_to_another_server_keep_the_host_up_until_they_stop(
    server: ServerHarness, cloud: Cloud, second_server: tuple[Services, TestClient]
) -> None:
    other, other_api = second_server
    agent = server.agents.agents[AGENT_URL]

    def state() -> str:
        return str(server.ok("listHosts", id=cloud.host_id)["host"][0]["state"])

    # ping.interval 60 s × ping.timeout 2.5: Disconnected after 150 s of silence.
    flush_s = flush_interval_s(60, 2.5)
    assert flush_s <= 5.0
    for _ in range(6):
        server.clock.advance(60)
        beat(other_api, cloud, agent)
        # The sweeper (this server) runs before the other server's next flush...
        server.clock.advance(flush_s)
        update_host_states(server.db, server.clock, server.services.last_seen)
        assert state() == "Up"
        # ...which writes the beat's time, not the flush's.
        other.last_seen.flush(other.db)
        server.clock.advance(-flush_s)
    server.clock.advance(149)
    update_host_states(server.db, server.clock, server.services.last_seen)
    assert state() == "Up"
    server.clock.advance(2)
    update_host_states(server.db, server.clock, server.services.last_seen)
    assert state() == "Disconnected"
    # The next beat to any server brings it back at once (a change: written directly).
    beat(other_api, cloud, agent)
    assert state() == "Up"


def test_a_setting_changed_on_one_server_reaches_the_other_within_its_cache_age(
    server: ServerHarness, cloud: Cloud, second_server: tuple[Services, TestClient]
) -> None:
    other, _ = second_server
    ticks = [0.0]
    cache = SettingsCache(other.db, monotonic=lambda: ticks[0])
    agent = server.agents.agents[AGENT_URL]
    assert cache.get(PING_INTERVAL_S) == 60
    assert beat(server.agent_api, cloud, agent).interval_s == 60.0
    server.ok("updateConfiguration", name="ping.interval", value="30")
    # This server at once; the other within SETTINGS_MAX_AGE_S, without a query per read.
    assert beat(server.agent_api, cloud, agent).interval_s == 30.0
    with statements(other.db.engine) as sent:
        assert cache.get(PING_INTERVAL_S) == 60
        ticks[0] = SETTINGS_MAX_AGE_S - 0.1
        assert cache.get(PING_INTERVAL_S) == 60
    assert sent == []
    ticks[0] = SETTINGS_MAX_AGE_S
    assert cache.get(PING_INTERVAL_S) == 30


def test_a_unit_of_work_cut_by_a_lost_connection_runs_once_more(server: ServerHarness) -> None:
    calls: list[int] = []

    def work(_session: object) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
        return "done"

    assert server.db.run(work) == "done"
    assert len(calls) == 2

    def failing(_session: object) -> str:
        raise exc.DBAPIError("SELECT 1", {}, Exception("syntax"))

    with pytest.raises(exc.DBAPIError):
        server.db.run(failing)


def test_the_pool_is_sized_to_the_threads_and_not_pinged(server: ServerHarness) -> None:
    settings = server.services.settings
    pool = server.db.engine.pool
    assert pool.size() == settings.api_threads + settings.job_workers + 3  # type: ignore[attr-defined]
    assert not pool._pre_ping
    engine = make_engine("postgresql+psycopg://u@127.0.0.1:1/x", pool_size=12)
    assert engine.pool.size() == 12  # type: ignore[attr-defined]
    assert not engine.pool._pre_ping
    assert engine.pool._recycle == 1800
    engine.dispose()


def agent_host_id(server: ServerHarness, cloud: Cloud) -> int:
    with server.db.transaction() as session:
        host_id = session.scalar(select(Host.id).where(Host.uuid == cloud.host_id))
    assert host_id is not None
    return host_id
