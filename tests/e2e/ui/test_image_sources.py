"""A template's detail shows where each copy's bytes came from: the origin or a peer host.

Two real agents with host-local pools behind a throttled origin: the first copy reads the
origin, the second, prepared from the screen, is served by the first host's verified copy.
"""

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import HEADER, add_host, wait_jobs
from tests.e2e.test_peer_sources import (
    IMAGE_BYTES,
    ORIGIN_BPS,
    PEERS_MAX_SOURCES,
    Zone,
    details_on,
    prepare,
    register,
    start_prepare,
)
from tests.e2e.ui.conftest import Ui, running_ui
from tests.support.browser import assert_accessible, login, screenshot
from tests.support.processes import ManagedProcess, free_port, start_agent

pytestmark = pytest.mark.e2e

# The image is 24 MiB: both byte counts are shown as such.
SHOWN_SIZE = "24.0 MiB"
SETTLE_MS = 120_000


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Ui, Zone]]:
    """The UI's stack plus a second agent; one host-local pool per host (local1, local2)."""
    workdir = tmp_path_factory.mktemp("ui-peers")
    with running_ui(workdir) as ui:
        stack = ui.stack
        api = stack.api
        port = free_port()
        second: ManagedProcess = start_agent(port, workdir / "agent2-state", workdir / "agent2.log")
        try:
            added = add_host(stack, port, workdir / "agent2-state")
            hosts = [stack.host_id, str(added["id"])]
            pools: list[str] = []
            paths: list[Path] = []
            for n, host_id in enumerate(hosts, 1):
                path = workdir / f"local{n}"
                path.mkdir()
                paths.append(path)
                pools.append(
                    api.createStoragePool(
                        name=f"local{n}",
                        zoneid=stack.zone_id,
                        hostid=host_id,
                        url=f"Filesystem://localhost{path}",
                    )["storagepool"]["id"]
                )
            yield (
                ui,
                Zone(
                    stack,
                    hosts,
                    pools,
                    paths,
                    [stack.agent, second],
                    [stack.agent_port, port],
                    workdir,
                ),
            )
        finally:
            second.stop()


def sources_row(page: Page, pool: str) -> Locator:
    table = page.get_by_role("table", name="Where each copy's bytes came from")
    return table.get_by_role("row", name=re.compile(rf"^{pool}\b"))


def test_the_detail_shows_origin_and_peer_bytes_and_sources(
    peers: tuple[Ui, Zone], page: Page
) -> None:
    ui, zone = peers
    api = zone.stack.api
    template_id, _, _ = register(zone, "ui-peer-sources")
    first = prepare(zone, template_id, 0)
    assert first["originbytes"] == IMAGE_BYTES
    first_host = api.listHosts(id=zone.hosts[0])["host"][0]["name"]

    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/templates/{template_id}")
    expect(page.get_by_role("heading", name="ui-peer-sources", level=1)).to_be_visible()
    origin = sources_row(page, "local1")
    expect(origin.get_by_role("cell").nth(0)).to_have_text(SHOWN_SIZE)
    expect(origin.get_by_role("cell").nth(1)).to_have_text("0 B")
    expect(origin.get_by_role("listitem")).to_have_text([f"origin: {SHOWN_SIZE} (used)"])

    # The second host's copy, prepared from the screen, comes from the first host's.
    page.get_by_label("Storage pool").select_option(label="local2")
    page.get_by_role("button", name="Prepare on pool…").click()
    expect(page.get_by_role("status")).to_contain_text("prepared on the pool", timeout=SETTLE_MS)
    from_peer = sources_row(page, "local2")
    expect(from_peer.get_by_role("cell").nth(0)).to_have_text("0 B", timeout=SETTLE_MS)
    expect(from_peer.get_by_role("cell").nth(1)).to_have_text(SHOWN_SIZE)
    expect(from_peer.get_by_role("listitem")).to_have_text(
        [f"peer {first_host}: {SHOWN_SIZE} (used)"]
    )
    # The page says what the API says.
    second = details_on(zone, template_id, 1)
    assert second["peerbytes"] == IMAGE_BYTES and second["originbytes"] == 0
    assert [(s["hostid"], s["hostname"]) for s in second["sources"]] == [
        (zone.hosts[0], first_host)
    ]
    # Its event is listed with the others.
    events = page.get_by_role("table", name=re.compile("Related events"))
    expect(
        events.get_by_role("row").filter(has_text="TEMPLATE.DIRECT.DOWNLOAD.SOURCES")
    ).to_contain_text(f"peer {first_host}", timeout=SETTLE_MS)
    page.get_by_role("button", name="Dismiss").click()  # the notice would cover the table
    screenshot(page, "template-detail-byte-sources")
    assert_accessible(page)


def test_an_iso_detail_shows_its_peer_copy(peers: tuple[Ui, Zone], page: Page) -> None:
    ui, zone = peers
    stack = zone.stack
    data = os.urandom(IMAGE_BYTES)
    path = "/ui-peer-iso.iso"
    (stack.workdir / "images" / path.lstrip("/")).write_bytes(data)
    stack.origin.throttle_bps[path] = ORIGIN_BPS
    iso = stack.api.registerIso(
        name="ui-peer-iso",
        displaytext="ui-peer-iso",
        zoneid=stack.zone_id,
        url=stack.origin.url(path),
        directdownload=True,
        checksum=f"{{SHA-256}}{hashlib.sha256(data).hexdigest()}",
        details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
    )["iso"][0]
    for index in (0, 1):  # one after the other: the second host finds the first's copy
        (job,) = wait_jobs(stack.api, [start_prepare(zone, iso["id"], index)], 180)
        assert job["jobstatus"] == 1, job
    first_host = stack.api.listHosts(id=zone.hosts[0])["host"][0]["name"]

    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/isos/{iso['id']}")
    expect(page.get_by_role("heading", name="ui-peer-iso", level=1)).to_be_visible()
    from_peer = sources_row(page, "local2")
    expect(from_peer.get_by_role("cell").nth(0)).to_have_text("0 B")
    expect(from_peer.get_by_role("cell").nth(1)).to_have_text(SHOWN_SIZE)
    expect(from_peer.get_by_role("listitem")).to_have_text(
        [f"peer {first_host}: {SHOWN_SIZE} (used)"]
    )
    events = page.get_by_role("table", name=re.compile("Related events"))
    expect(
        events.get_by_role("row").filter(has_text="ISO.DIRECT.DOWNLOAD.SOURCES")
    ).to_contain_text(f"peer {first_host}")


def test_the_peer_settings_are_listed_and_editable(peers: tuple[Ui, Zone], page: Page) -> None:
    ui, zone = peers
    api = zone.stack.api
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/settings")
    page.get_by_role("button", name="direct.download.* settings").click()
    for name in (
        "kvmcloud.direct.download.peers.enabled",
        PEERS_MAX_SOURCES,
        "kvmcloud.direct.download.peer.max.rate",
        "kvmcloud.direct.download.peer.max.uploads",
        "kvmcloud.direct.download.peers.max.wait",
    ):
        expect(page.get_by_label(f"Value of {name}", exact=True)).to_be_visible()
    value = page.get_by_label(f"Value of {PEERS_MAX_SOURCES}", exact=True)
    before = value.input_value()
    try:
        value.fill("5")
        page.get_by_role("row").filter(has=value).get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text(f"{PEERS_MAX_SOURCES} is now 5")
        (listed,) = api.listConfigurations(name=PEERS_MAX_SOURCES)["configuration"]
        assert listed["value"] == "5"
    finally:
        api.updateConfiguration(name=PEERS_MAX_SOURCES, value=before)
