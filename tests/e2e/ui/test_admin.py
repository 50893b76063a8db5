"""The admin screens in the web UI: settings, accounts, users, domains, jobs and events."""

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import HEADER, wait_jobs
from tests.e2e.ui.conftest import Ui
from tests.support.browser import TABLET, assert_accessible, login, screenshot

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


def test_settings_categories_are_those_the_server_lists(ui: Ui, page: Page) -> None:
    listed: dict[str, Any] = ui.stack.api.listConfigurations(pagesize=-1)
    categories = sorted({c["category"] for c in listed["configuration"] if c.get("category")})
    assert categories, listed
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/settings")
    choices = page.get_by_label("Category").locator("option")
    expect(choices).to_have_count(len(categories) + 1)
    assert choices.all_text_contents() == ["All categories", *categories]

    # A category narrows the list to its settings; the direct.download button clears it.
    page.get_by_label("Category").select_option(categories[0])
    shown = page.locator("table tbody tr td:nth-child(2)")
    expect(shown.first).to_have_text(categories[0])
    expect(shown.filter(has_not_text=categories[0])).to_have_count(0)
    page.get_by_role("button", name="direct.download.* settings").click()
    expect(page.get_by_label("Category")).to_have_value("")
    expect(setting_row(page, SETTING)).to_have_count(1)


def test_domain_account_and_user_are_created_where_chosen(ui: Ui, page: Page) -> None:
    suffix = secrets.token_hex(3)
    parent, child = f"ui-dom-{suffix}", f"ui-sub-{suffix}"
    username, second = f"ui-{suffix}", f"ui-2nd-{suffix}"
    login(page, ui.url, ui.username, ui.password)

    # Domains: a child of ROOT, then a child of that one, chosen in the parent list.
    page.get_by_role("link", name="Domains", exact=True).click()
    page.get_by_label("New domain name").fill(parent)
    expect(page.get_by_label("Parent domain")).to_have_value(root_domain_id(ui))
    page.get_by_role("button", name="Create domain").click()
    expect(page.get_by_role("status")).to_contain_text(f"Domain ROOT/{parent} created")
    page.get_by_label("New domain name").fill(child)
    page.get_by_label("Parent domain").select_option(label=f"ROOT/{parent}")
    page.get_by_role("button", name="Create domain").click()
    expect(page.get_by_role("status")).to_contain_text(f"Domain ROOT/{parent}/{child} created")
    expect(page.get_by_role("row").filter(has_text=f"ROOT/{parent}/{child}")).to_have_count(1)
    (sub,) = ui.stack.api.listDomains(name=child, listall=True)["domain"]
    assert sub["parentdomainname"] == parent

    # Accounts: in the child domain, with the Domain Admin role, both chosen in the dialog.
    page.get_by_role("link", name="Accounts", exact=True).click()
    page.get_by_role("button", name="Create account").click()
    dialog = page.get_by_role("dialog", name="Create account")
    fill_person(dialog, username)
    dialog.get_by_label("Domain").select_option(label=f"ROOT/{parent}/{child}")
    dialog.get_by_label("Role").select_option(label="Domain Admin (DomainAdmin)")
    assert_accessible(page)
    dialog.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text(f"Account {username} created")
    expect(page.get_by_role("row").filter(has_text=username)).to_have_count(1)
    (account,) = ui.stack.api.listAccounts(name=username, listall=True)["account"]
    assert (account["domainid"], account["rolename"]) == (sub["id"], "Domain Admin")

    # Users: a second user in that account.
    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_role("button", name="Create user").click()
    dialog = page.get_by_role("dialog", name="Create user")
    dialog.get_by_label("Account").select_option(label=f"{username} (ROOT/{parent}/{child})")
    fill_person(dialog, second)
    dialog.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"User {second} created in account {username}"
    )
    (user,) = ui.stack.api.listUsers(username=second, listall=True)["user"]
    assert (user["account"], user["domainid"]) == (username, sub["id"])

    page.get_by_role("button", name=f"Disable user {second}").click()
    expect(page.get_by_role("status")).to_contain_text(f"User {second} disabled")
    expect(page.get_by_role("button", name=f"Enable user {second}")).to_be_visible()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name=f"Delete user {second}").click()
    expect(page.get_by_role("status")).to_contain_text(f"User {second} deleted")
    expect(page.get_by_role("row").filter(has_text=second)).to_have_count(0)
    assert not ui.stack.api.listUsers(username=second, listall=True).get("user")

    # Accounts: disable (an async job) and enable again.
    page.get_by_role("link", name="Accounts", exact=True).click()
    page.get_by_role("button", name=f"Disable {username}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Account {username} disabled")
    expect(page.get_by_role("button", name=f"Enable {username}")).to_be_visible()

    # Domains: deleting a domain that is not empty ends with the API's errortext ...
    page.get_by_role("link", name="Domains", exact=True).click()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name=f"Delete domain ROOT/{parent}", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Delete domain ROOT/{parent} failed: ")
    assert ui.stack.api.listDomains(name=parent, listall=True).get("domain")
    # ... and with cleanup it removes the subtree and the account in it.
    page.get_by_label("Delete also removes child domains and their accounts (cleanup)").check()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name=f"Delete domain ROOT/{parent}", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Domain ROOT/{parent} deleted")
    expect(page.get_by_role("row").filter(has_text=parent)).to_have_count(0)
    assert not ui.stack.api.listDomains(name=parent, listall=True).get("domain")
    assert not ui.stack.api.listAccounts(name=username, listall=True).get("account")


def test_jobs_filtered_by_status(ui: Ui, page: Page) -> None:
    # A job that succeeds (disabling an account) and one that fails (a wrong checksum).
    suffix = secrets.token_hex(3)
    account = ui.stack.api.createAccount(
        username=f"ui-jobs-{suffix}",
        password=secrets.token_urlsafe(12),
        email="jobs@example.org",
        firstname="Jobs",
        lastname="Tester",
        accounttype=0,
    )["account"]
    ui.stack.api.disableAccount(id=account["id"], lock=False)
    stack = ui.stack
    template = stack.api.registerTemplate(
        name=f"ui-bad-sum-{suffix}",
        displaytext="bad checksum",
        url=stack.origin.url(stack.image_path),
        format="QCOW2",
        hypervisor="KVM",
        zoneid=stack.zone_id,
        directdownload=True,
        checksum="{SHA-256}" + "0" * 64,
        details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
    )["template"][0]
    prepared = stack.api.prepareTemplate(
        templateid=template["id"], zoneid=stack.zone_id, storageid=stack.pool_id
    )
    (failed,) = wait_jobs(stack.api, [prepared["template"][0]["downloaddetails"][0]["jobid"]])
    assert failed["jobstatus"] == 2, failed

    login(page, ui.url, ui.username, ui.password)
    page.get_by_role("link", name="Async jobs", exact=True).click()
    statuses = page.locator("table tbody tr td:nth-child(2)")
    for wanted in ("Succeeded", "Failed"):
        page.get_by_label("Status").select_option(label=wanted)
        expect(page.get_by_role("table", name=re.compile(f"^{wanted} async jobs"))).to_be_visible()
        expect(statuses.first).to_have_text(wanted)
        expect(statuses.filter(has_not_text=wanted)).to_have_count(0)
    assert_accessible(page)
    page.get_by_label("Status").select_option(label="All statuses")
    expect(page.get_by_role("table", name=re.compile("^Async jobs"))).to_be_visible()
    expect(statuses.filter(has_text="Succeeded").first).to_be_visible()
    expect(statuses.filter(has_text="Failed").first).to_be_visible()


def test_events_list_shows_the_login(ui: Ui, page: Page) -> None:
    login(page, ui.url, ui.username, ui.password)
    page.get_by_role("link", name="Events", exact=True).click()
    expect(page.get_by_role("heading", name="Events", level=1)).to_be_visible()
    page.get_by_label("Level").select_option("INFO")
    page.get_by_label("Keyword").fill("USER.LOGIN")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("row").filter(has_text="USER.LOGIN").first).to_be_visible()
    assert_accessible(page)

    # The type filter: its choices are listEventTypes'; it asks listEvents for that type.
    page.get_by_label("Keyword").fill("")
    page.get_by_role("button", name="Search").click()
    page.get_by_label("Type").select_option("USER.LOGIN")
    types = page.locator("table tbody tr td:nth-child(3)")
    expect(types.first).to_have_text("USER.LOGIN")
    expect(types.filter(has_not_text="USER.LOGIN")).to_have_count(0)
    page.get_by_label("Type").select_option("USER.LOGOUT")
    expect(page.get_by_role("table", name=re.compile("^Events"))).to_contain_text("No events.")


ADMIN_SCREENS = [
    ("events", "Events"),
    ("jobs", "Async jobs"),
    ("settings", "Global settings"),
    ("accounts", "Accounts"),
    ("users", "Users"),
    ("domains", "Domains"),
]


@pytest.mark.parametrize(("path", "heading"), ADMIN_SCREENS, ids=[p for p, _ in ADMIN_SCREENS])
def test_admin_screen_fits_a_tablet(ui: Ui, tablet_page: Page, path: str, heading: str) -> None:
    page = tablet_page
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/{path}")
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
    expect(page.locator("table[aria-busy='false'] tbody tr").first).to_be_visible()
    assert_no_sideways_scroll(page)
    assert_accessible(page)
    if path == "accounts":
        page.get_by_role("button", name="Create account").click()
        expect(
            page.get_by_role("dialog", name="Create account").get_by_label("Role")
        ).to_be_visible()
        assert_no_sideways_scroll(page)
        assert_accessible(page)
    screenshot(page, f"{path}-tablet")


def assert_no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {TABLET['width']} px"


def root_domain_id(ui: Ui) -> str:
    (root,) = ui.stack.api.listDomains(level=0)["domain"]
    domain_id = root["id"]
    assert isinstance(domain_id, str)
    return domain_id


def fill_person(dialog: Locator, username: str) -> None:
    dialog.get_by_label("Username").fill(username)
    dialog.get_by_label("Password").fill(secrets.token_urlsafe(12))
    dialog.get_by_label("Email").fill(f"{username}@example.org")
    dialog.get_by_label("First name").fill("Ui")
    dialog.get_by_label("Last name").fill("Tester")
