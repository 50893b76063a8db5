"""The infrastructure screens: the stack's host Up, its pool with usage and its detail."""

import math
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.ui.conftest import Ui
from tests.support.browser import assert_accessible, login

pytestmark = pytest.mark.e2e


def test_hosts_shows_the_host_up(ui: Ui, page: Page) -> None:
    (host,) = ui.stack.api.listHosts()["host"]
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/hosts")

    row = page.get_by_role("row").filter(has_text=host["name"])
    expect(row).to_contain_text("Up")
    expect(row).to_contain_text(host["resourcestate"])
    assert_accessible(page)


def test_storage_shows_the_pool_with_its_usage(ui: Ui, page: Page) -> None:
    (pool,) = ui.stack.api.listStoragePools()["storagepool"]
    used, total = pool["disksizeused"], pool["disksizetotal"]
    # As JavaScript's Math.round does (half up), to one decimal.
    percent = math.floor(used / total * 1000 + 0.5) / 10
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/storage")

    row = page.get_by_role("row").filter(has_text=pool["name"])
    expect(row).to_contain_text(pool["state"])
    # The percentage as the UI rounds it (one decimal, JavaScript drops a trailing .0).
    shown = f"{percent:g}"
    expect(row).to_contain_text(re.compile(rf"of .*\({re.escape(shown)}%\)"))
    assert_accessible(page)

    row.get_by_role("link", name=pool["name"]).click()
    expect(page.get_by_role("heading", name=f"Primary storage {pool['name']}")).to_be_visible()
    expect(
        page.get_by_role("table", name=re.compile("Template copies on this pool"))
    ).to_be_visible()
    assert_accessible(page)


def test_pool_detail_enters_cancels_maintenance_and_deletes_the_pool(ui: Ui, page: Page) -> None:
    api = ui.stack.api
    (zone,) = api.listZones()["zone"]
    (cluster,) = api.listClusters()["cluster"]
    path = ui.stack.workdir / "ui-spare"
    path.mkdir()
    spare = api.createStoragePool(
        name="ui-spare",
        zoneid=zone["id"],
        clusterid=cluster["id"],
        url=f"SharedMountPoint://localhost{path}",
    )["storagepool"]
    # Entering maintenance and deleting ask for confirmation.
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/storage/{spare['id']}")
    heading = page.get_by_role("heading", name="Primary storage ui-spare")
    expect(heading).to_be_visible()
    actions = page.get_by_role("group", name="Pool actions")
    expect(actions.get_by_role("button", name="Cancel maintenance")).to_be_disabled()
    expect(actions.get_by_role("button", name="Delete…")).to_be_disabled()
    assert_accessible(page)

    actions.get_by_role("button", name="Enable maintenance").click()
    expect(page.get_by_role("status")).to_contain_text("Maintenance: Maintenance")
    expect(actions.get_by_role("button", name="Enable maintenance")).to_be_disabled()
    actions.get_by_role("button", name="Cancel maintenance").click()
    expect(page.get_by_role("status")).to_contain_text("Maintenance cancelled: Up")
    assert api.listStoragePools(id=spare["id"])["storagepool"][0]["state"] == "Up"

    actions.get_by_role("button", name="Enable maintenance").click()
    expect(page.get_by_role("status")).to_contain_text("Maintenance: Maintenance")
    actions.get_by_role("button", name="Delete…").click()
    dialog = page.get_by_role("dialog", name="Delete pool ui-spare")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Forced").check()
    assert_accessible(page)
    dialog.get_by_role("button", name="Delete pool").click()
    expect(page.get_by_role("heading", name="Primary storage", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Pool ui-spare deleted")
    assert spare["id"] not in {p["id"] for p in api.listStoragePools()["storagepool"]}
