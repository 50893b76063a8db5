"""The admin screens in the web UI: global settings, accounts and the events list."""

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.ui.conftest import Ui
from tests.support.browser import assert_accessible, login, screenshot

pytestmark = pytest.mark.e2e

SETTING = "direct.download.connect.timeout"


def setting_value(ui: Ui, name: str) -> str:
    """A global setting's value as the API lists it."""
    answer: dict[str, Any] = ui.stack.api.listConfigurations(name=name)
    values = [c["value"] for c in answer.get("configuration", []) if c["name"] == name]
    assert len(values) == 1, answer
    value = values[0]
    assert isinstance(value, str)
    return value


@pytest.fixture
def restored_setting(ui: Ui) -> Iterator[str]:
    """The setting's value before the test; put back afterwards (the stack is per module)."""
    before = setting_value(ui, SETTING)
    yield before
    ui.stack.api.updateConfiguration(name=SETTING, value=before)


def setting_row(page: Page, name: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_label(f"Value of {name}", exact=True))


def test_settings_filter_and_edit_a_value(ui: Ui, page: Page, restored_setting: str) -> None:
    login(page, ui.url, ui.username, ui.password)
    page.get_by_role("link", name="Settings", exact=True).click()
    expect(page.get_by_role("heading", name="Global settings", level=1)).to_be_visible()

    page.get_by_role("button", name="direct.download.* settings").click()
    expect(page.get_by_label("Keyword")).to_have_value("direct.download")
    names = page.locator("table tbody tr td:first-child")
    expect(names.first).to_have_text(re.compile(r"^direct\.download\."))
    for name in names.all_text_contents():
        assert "direct.download" in name, name
    row = setting_row(page, SETTING)
    expect(row).to_contain_text("Connection timeout (milliseconds)")
    expect(row.get_by_label(f"Value of {SETTING}")).to_have_value(restored_setting)

    wanted = str(int(restored_setting) + 1234)
    row.get_by_label(f"Value of {SETTING}").fill(wanted)
    row.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text(f"{SETTING} is now {wanted}")
    assert setting_value(ui, SETTING) == wanted
    screenshot(page, "settings")
    assert_accessible(page)

    # A value the setting refuses: the API's own errortext is shown, the value is unchanged.
    row.get_by_label(f"Value of {SETTING}").fill("not-a-number")
    with page.expect_response(lambda r: r.url.endswith("/client/api")) as answered:
        row.get_by_role("button", name="Save").click()
    reply: dict[str, Any] = answered.value.json()
    errortext = reply["updateconfigurationresponse"]["errortext"]
    assert answered.value.status >= 400 and errortext
    expect(page.get_by_role("status")).to_contain_text(f"Save failed: {errortext}")
    assert setting_value(ui, SETTING) == wanted


def test_create_an_account_and_see_it_listed(ui: Ui, page: Page) -> None:
    username = f"ui-{secrets.token_hex(3)}"
    login(page, ui.url, ui.username, ui.password)
    page.get_by_role("link", name="Accounts", exact=True).click()
    page.get_by_role("button", name="Create account").click()
    dialog = page.get_by_role("dialog", name="Create account")
    dialog.get_by_label("Username").fill(username)
    dialog.get_by_label("Password").fill(secrets.token_urlsafe(12))
    dialog.get_by_label("Email").fill(f"{username}@example.org")
    dialog.get_by_label("First name").fill("Ui")
    dialog.get_by_label("Last name").fill("Tester")
    dialog.get_by_label("Account type").select_option(label="User")
    dialog.get_by_role("button", name="Create").click()

    expect(page.get_by_role("status")).to_contain_text(f"Account {username} created")
    expect(page.get_by_role("row").filter(has_text=username)).to_have_count(1)
    accounts: dict[str, Any] = ui.stack.api.listAccounts(name=username, listall=True)
    assert [a["name"] for a in accounts["account"]] == [username]

    page.get_by_role("button", name=f"Disable {username}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Account {username} disabled")
    expect(page.get_by_role("button", name=f"Enable {username}")).to_be_visible()


def test_events_list_shows_the_login(ui: Ui, page: Page) -> None:
    login(page, ui.url, ui.username, ui.password)
    page.get_by_role("link", name="Events", exact=True).click()
    expect(page.get_by_role("heading", name="Events", level=1)).to_be_visible()
    page.get_by_label("Level").select_option("INFO")
    page.get_by_label("Keyword").fill("USER.LOGIN")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("row").filter(has_text="USER.LOGIN").first).to_be_visible()
    assert_accessible(page)
