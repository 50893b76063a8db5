"""Time list pages at scale in-process on SQLite: p50/p95 and SQL statements per page.

Usage: python -m bench.list_pages [--templates 10000] [--reps 20]. The app runs in-process
(Starlette's test client, fake agents): what is measured is the server's work for one page,
without the HTTP socket.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, select
from starlette.testclient import TestClient
from tests.fakes import FakeAgentClient
from tests.integration.server.conftest import AGENT_URL, make_cloud, seeded_services

from kvmcloud.protocol.api_signing import sign
from kvmcloud.server import db_migrations
from kvmcloud.server.accounts.models import Account
from kvmcloud.server.accounts.service import ApiKeys
from kvmcloud.server.app import Services, create_app
from kvmcloud.server.db import make_engine, new_uuid
from kvmcloud.server.infrastructure.models import StoragePool, Zone
from kvmcloud.server.templates.models import (
    DownloadState,
    GuestOs,
    ImageFormat,
    RefState,
    Template,
    TemplateDetail,
    TemplatePoolRef,
    TemplateZoneRef,
)

CASES: tuple[tuple[str, dict[str, str]], ...] = (
    ("listTemplates", {"templatefilter": "all", "page": "1", "pagesize": "500"}),
    ("listTemplates", {"templatefilter": "self", "page": "1", "pagesize": "500"}),
    ("listTemplates", {"templatefilter": "all"}),
    ("listZones", {}),
)


class Api:
    """Signed GETs to the in-process app, as the admin."""

    def __init__(self, client: TestClient, keys: ApiKeys) -> None:
        self.client, self.keys = client, keys

    def get(self, command: str, **params: str) -> dict[str, Any]:
        query = {**params, "command": command, "response": "json", "apiKey": self.keys.api_key}
        query["signature"] = sign(query, self.keys.secret_key)
        response = self.client.get("/client/api", params=query)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = next(iter(response.json().values()))
        return body


def load_templates(services: Services, count: int) -> None:
    """Insert ``count`` templates in the zone, each with a detail; every 10th on the pool."""
    now = datetime.now(UTC)
    with services.db.transaction() as session:
        zone_id = session.scalars(select(Zone.id)).one()
        pool_id = session.scalars(select(StoragePool.id)).one()
        account_id = session.scalars(select(Account.id).order_by(Account.id)).first()
        guest_os_id = session.scalars(select(GuestOs.id).order_by(GuestOs.id)).first()
        first = (session.scalars(select(Template.id).order_by(Template.id.desc())).first() or 0) + 1
        ids = range(first, first + count)
        session.execute(
            insert(Template),
            [
                {
                    "id": i,
                    "uuid": new_uuid(),
                    "unique_name": f"t{i}",
                    "name": f"t{i}",
                    "display_text": f"template {i}",
                    "format": ImageFormat.QCOW2,
                    "hypervisor_type": "KVM",
                    "url": f"http://127.0.0.1:9/t{i}.qcow2",
                    "direct_download": True,
                    "public": i % 2 == 0,
                    "guest_os_id": guest_os_id,
                    "account_id": account_id,
                    "created": now,
                }
                for i in ids
            ],
        )
        session.execute(
            insert(TemplateZoneRef),
            [{"template_id": i, "zone_id": zone_id, "created": now} for i in ids],
        )
        session.execute(
            insert(TemplateDetail),
            [{"template_id": i, "name": "k", "value": "v"} for i in ids],
        )
        session.execute(
            insert(TemplatePoolRef),
            [
                {
                    "pool_id": pool_id,
                    "template_id": i,
                    "download_state": DownloadState.DOWNLOADED,
                    "state": RefState.READY,
                    "created": now,
                }
                for i in ids
                if i % 10 == 0
            ],
        )


@contextmanager
def counting(services: Services) -> Iterator[list[str]]:
    """Collect the SQL statements sent while the block runs."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(services.db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(services.db.engine, "before_cursor_execute", count)


def measure(api: Api, services: Services, reps: int) -> None:
    """Print p50/p95 (ms), rows and statements for each case.

    The CPU time is the whole process's (client and server threads): on a shared machine it
    moves less than the wall time.
    """
    for command, params in CASES:
        api.get(command, **params)  # warm-up
        times, cpu = [], []
        for _ in range(reps):
            started, cpu_started = time.perf_counter(), time.process_time()
            api.get(command, **params)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
        with counting(services) as statements:
            body = api.get(command, **params)
        rows = max((len(v) for v in body.values() if isinstance(v, list)), default=0)
        times.sort()
        p95 = times[min(len(times) - 1, round(len(times) * 0.95))]
        shown = " ".join(f"{k}={v}" for k, v in params.items())
        print(
            f"{command} {shown}: p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, "
            f"CPU p50 {statistics.median(cpu):.1f} ms, {rows} rows, {len(statements)} statements"
        )


def main() -> None:
    """Load the templates and time the pages."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--templates", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        schema = directory / "schema.db"
        engine = make_engine(f"sqlite:///{schema}")
        db_migrations.upgrade(engine)
        engine.dispose()
        (directory / "server").mkdir()
        services, agents, _clock, admin = seeded_services(schema, directory / "server")
        assert isinstance(agents, FakeAgentClient)
        agents.add(AGENT_URL)
        with TestClient(create_app(services, run_background=False)) as client:
            api = Api(client, admin)
            make_cloud(lambda command, **params: api.get(command, **params))
            load_templates(services, args.templates)
            print(f"SQLite, {args.templates} templates, {args.reps} repetitions")
            measure(api, services, args.reps)
        services.db.engine.dispose()


if __name__ == "__main__":
    main()
