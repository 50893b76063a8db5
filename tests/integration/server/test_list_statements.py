"""List pages send a constant number of SQL statements, however many rows they show.

Each page is asked through the real app while a ``before_cursor_execute`` listener on the
server's engine counts what reaches the database, with a few rows and with many: every
related table is read once per page (or joined), never once per row. On SQLite, PostgreSQL
and MariaDB: the same queries, and the bound holds on each.
"""

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trustme
from sqlalchemy import event

from kvmcloud.server.accounts.service import ApiKeys
from tests.fakes import FAKE_TOKEN, FakeAgent
from tests.integration.server.conftest import Cloud, ServerHarness, build_cloud

FEW, MANY = 3, 60
# The pages a client's dashboard or inventory asks for; libcloud and Ansible send no pagesize.
PAGES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("listTemplates", {"templatefilter": "all"}),
    ("listTemplates", {"templatefilter": "all", "page": 1, "pagesize": 500}),
    ("listTemplates", {"templatefilter": "self"}),
    ("listTemplates", {"templatefilter": "executable"}),
    ("listTemplates", {"templatefilter": "community"}),
    ("listIsos", {}),
    ("listIsos", {"isofilter": "all", "bootable": True, "page": 1, "pagesize": 500}),
    ("listVirtualMachines", {}),
    ("listVirtualMachines", {"listall": True, "details": "all"}),
    ("listVolumes", {"listall": True}),
    ("listHosts", {}),
    ("listStoragePools", {}),
    ("listEvents", {"listall": True}),
    ("listAsyncJobs", {"listall": True}),
    ("listTemplateDirectDownloadCertificates", {"listhosts": True}),
)
# What an ordinary user asks for: the owner and visibility checks run for each page too.
USER_PAGES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("listTemplates", {"templatefilter": "executable"}),
    ("listTemplates", {"templatefilter": "self"}),
    ("listIsos", {"isofilter": "executable"}),
    ("listVirtualMachines", {}),
    ("listVolumes", {}),
    ("listEvents", {}),
    ("listAsyncJobs", {}),
)
MAX_STATEMENTS = 10


@contextmanager
def counted(server: ServerHarness) -> Iterator[list[str]]:
    """Collect every statement the server's engine sends while the block runs."""
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(server.db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(server.db.engine, "before_cursor_execute", count)


@dataclasses.dataclass
class Grower:
    """Adds templates, ISOs, VMs (with volumes, copies, jobs, events), hosts and pools."""

    server: ServerHarness
    cloud: Cloud
    user: ApiKeys
    offering: str
    count: int = 0

    def grow_to(self, wanted: int) -> None:
        while self.count < wanted:
            self._add(self.count)
            self.count += 1
        self.server.run_jobs()

    def _add(self, n: int) -> None:
        ok, zone_id = self.server.ok, self.cloud.zone_id
        image: dict[str, Any] = {"zoneid": zone_id, "directdownload": True, "hypervisor": "KVM"}
        template = ok(
            "registerTemplate",
            name=f"t{n}",
            url=f"http://127.0.0.1:9/t{n}.qcow2",
            format="QCOW2",
            ispublic=n % 2 == 0,
            **{"details[0].os": f"v{n}"},
            **image,
        )["template"][0]["id"]
        ok(
            "registerIso",
            name=f"i{n}",
            url=f"http://127.0.0.1:9/i{n}.iso",
            ispublic=n % 2 == 0,
            **image,
        )
        status, body = self.server.call(
            "registerTemplate",
            self.user,
            name=f"u{n}",
            url=f"http://127.0.0.1:9/u{n}.qcow2",
            format="QCOW2",
            **image,
        )
        assert status == 200, body
        own = body["template"][0]["id"]
        for keys, image_id in ((None, template), (self.user, own)):
            status, body = self.server.call(
                "deployVirtualMachine",
                keys,
                zoneid=zone_id,
                templateid=image_id,
                serviceofferingid=self.offering,
                name=f"vm{n}-{'user' if keys else 'admin'}",
            )
            assert status == 200, body
        self._add_host(n)
        ok(
            "createStoragePool",
            name=f"p{n}",
            zoneid=zone_id,
            clusterid=self.cloud.cluster_id,
            url=f"SharedMountPoint://localhost/var/lib/kvmcloud/p{n}",
        )

    def _add_host(self, n: int) -> None:
        address = f"127.0.{n // 200 + 1}.{n % 200 + 2}"
        report = dataclasses.replace(FakeAgent().report, hostname=f"kvm{n}")
        self.server.agents.add(f"https://{address}:8252", FakeAgent(report=report))
        self.server.ok(
            "addHost",
            zoneid=self.cloud.zone_id,
            podid=self.cloud.pod_id,
            clusterid=self.cloud.cluster_id,
            url=f"http://{address}",
            username="root",
            password=FAKE_TOKEN,
            hypervisor="KVM",
        )


def statements_per_page(
    server: ServerHarness, pages: tuple[tuple[str, dict[str, Any]], ...], keys: ApiKeys | None
) -> dict[str, tuple[int, int]]:
    """Ask each page once: {page: (statements, objects shown)}."""
    counts = {}
    for command, params in pages:
        with counted(server) as statements:
            status, body = server.call(command, keys, **params)
        assert status == 200, body
        counts[f"{command} {params}"] = (len(statements), objects_in(body))
    return counts


def objects_in(answer: Any) -> int:
    """Count the objects an answer shows, nested ones too (a certificate's hosts)."""
    if isinstance(answer, dict):
        return 1 + sum(objects_in(value) for value in answer.values())
    if isinstance(answer, list):
        return sum(objects_in(item) for item in answer)
    return 0


def test_list_pages_send_as_many_statements_for_many_rows_as_for_few(
    server_on_each_database: ServerHarness,
) -> None:
    server = server_on_each_database
    cloud = build_cloud(server)
    offering = server.ok(
        "createServiceOffering",
        name="small",
        cpunumber=1,
        cpuspeed=100,
        memory=64,
        storagetype="shared",
    )["serviceoffering"]["id"]
    ca = trustme.CA().cert_pem.bytes().decode()
    server.ok(
        "uploadTemplateDirectDownloadCertificate",
        name="ca",
        certificate=ca,
        hypervisor="KVM",
        zoneid=cloud.zone_id,
    )
    grower = Grower(server, cloud, server.user("alice"), offering)
    # Filters by id load their object (and check it exists) on top of the page.
    in_zone = {"zoneid": cloud.zone_id}
    pages = (
        *PAGES,
        ("listTemplates", {"templatefilter": "all", **in_zone}),
        ("listTemplates", {"templatefilter": "all", "storageid": cloud.pool_id}),
        ("listIsos", {"isofilter": "all", **in_zone}),
        ("listVirtualMachines", {"listall": True, **in_zone}),
        ("listVolumes", {"listall": True, **in_zone}),
        ("listHosts", in_zone),
        ("listStoragePools", in_zone),
    )

    grower.grow_to(FEW)
    few = statements_per_page(server, pages, None)
    few_user = statements_per_page(server, USER_PAGES, grower.user)
    grower.grow_to(MANY)
    many = statements_per_page(server, pages, None)
    many_user = statements_per_page(server, USER_PAGES, grower.user)

    for small, large in ((few, many), (few_user, many_user)):
        # Every page shows more rows with more data, in the same number of statements.
        grew = {page for page, (_, shown) in large.items() if shown > small[page][1]}
        assert grew == set(large), {p: (small[p], large[p]) for p in set(large) - grew}
        assert {p: n for p, (n, _) in large.items()} == {p: n for p, (n, _) in small.items()}
        too_many = {p: n for p, (n, _) in large.items() if n > MAX_STATEMENTS}
        assert not too_many, too_many
