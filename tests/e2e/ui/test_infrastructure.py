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
