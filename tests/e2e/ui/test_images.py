"""The templates screens: the list, a direct-download template's detail and its pool copies."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Stack, register_template
from tests.e2e.ui.conftest import Ui
from tests.support.browser import assert_accessible, login, screenshot

pytestmark = pytest.mark.e2e

# A download that fails can be retried by the other hosts and by backoff: give it time.
SETTLE_MS = 90_000


def register(stack: Stack, name: str, path: str) -> dict:
    """Register a direct-download template of ``path`` on the stack's origin, as an admin would."""
    return register_template(stack, name, path)


def host_name(stack: Stack) -> str:
    (host,) = stack.api.listHosts(id=stack.host_id)["host"]
    return str(host["name"])


def prepare_on_the_pool(page: Page) -> None:
    expect(page.get_by_label("Storage pool")).to_have_value(re.compile(".+"))
    page.get_by_role("button", name="Prepare on pool…").click()


def test_prepare_from_the_list_reaches_downloaded_with_the_host(ui: Ui, page: Page) -> None:
    stack = ui.stack
    template = register(stack, "ui-prepare", stack.image_path)
    login(page, ui.url, ui.username, ui.password)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Templates").click()
    expect(page.get_by_role("heading", name="Templates", level=1)).to_be_visible()
    listing = page.get_by_role("table", name=re.compile("Templates"))
    row = listing.get_by_role("row").filter(has_text="ui-prepare")
    expect(row).to_contain_text("zone1")
    expect(row).to_contain_text("QCOW2")
    expect(row).to_contain_text("Yes")
    # The name filter asks the server: another keyword hides the template.
    page.get_by_label("Name contains").fill("no-such-name")
    expect(listing.get_by_role("row").filter(has_text="ui-prepare")).to_have_count(0)
    page.get_by_label("Name contains").fill("ui-prep")
    listing.get_by_role("link", name="ui-prepare").click()

    expect(page.get_by_role("heading", name="ui-prepare", level=1)).to_be_visible()
    assert page.url.endswith(f"#/templates/{template['id']}")
    expect(page.get_by_role("note")).to_contain_text("Bypassed Secondary Storage")
    prepare_on_the_pool(page)

    copy = page.get_by_role("table", name=re.compile("Copies on primary storage")).get_by_role(
        "row", name=re.compile("pool1")
    )
    expect(copy).to_contain_text("DOWNLOADED", timeout=SETTLE_MS)
    expect(copy.get_by_role("progressbar")).to_have_attribute("value", "100")
    expect(copy).to_contain_text("100%")
    expect(copy).to_contain_text(host_name(stack))
    expect(page.get_by_role("status")).to_contain_text("prepared on the pool", timeout=SETTLE_MS)
    # The page shows what the API says about the copy.
    (listed,) = stack.api.listTemplates(templatefilter="all", id=template["id"])["template"]
    (detail,) = listed["downloaddetails"]
    assert detail["downloadState"] == "DOWNLOADED" and detail["downloadPercent"] == 100
    screenshot(page, "template-detail-progress")
    assert_accessible(page)

    # Extract answers a download URL, shown as a link.
    page.get_by_role("button", name="Extract").click()
    expect(page.get_by_role("status")).to_contain_text("can be downloaded", timeout=SETTLE_MS)
    extracted = page.get_by_text("Download URL:").get_by_role("link")
    expect(extracted).to_have_text(re.compile(r"^https?:"))
    assert extracted.get_attribute("href") == extracted.inner_text()
    # Delete asks first, then the list no longer has the template.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Templates", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("ui-prepare is deleted")
    assert stack.api.listTemplates(templatefilter="all", id=template["id"]) == {}


def test_a_failed_download_shows_its_reason(ui: Ui, page: Page) -> None:
    stack = ui.stack
    stack.origin.files["/gone.qcow2"] = (stack.workdir / "images" / "tiny.qcow2").read_bytes()
    template = register(stack, "ui-gone", "/gone.qcow2")
    # Registration saw the file; from now on the origin answers 404 for it.
    stack.origin.statuses["/gone.qcow2"] = 404
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/templates/{template['id']}")
    expect(page.get_by_role("heading", name="ui-gone", level=1)).to_be_visible()

    prepare_on_the_pool(page)

    copy = page.get_by_role("table", name=re.compile("Copies on primary storage")).get_by_role(
        "row", name=re.compile("pool1")
    )
    expect(copy).to_contain_text("404", timeout=SETTLE_MS)
    (listed,) = stack.api.listTemplates(templatefilter="all", id=template["id"])["template"]
    (detail,) = listed["downloaddetails"]
    assert detail["errortext"] and "404" in detail["errortext"], detail
    expect(copy).to_contain_text(detail["errortext"])
    expect(copy).to_contain_text(detail["downloadState"])
    for failure in detail["failures"]:
        expect(copy).to_contain_text(f"{failure['hostname']}: {failure['reason']}")
    expect(page.get_by_role("status")).to_contain_text("failed", timeout=SETTLE_MS)
    # The failure's event is listed with the template's own events.
    events = page.get_by_role("table", name=re.compile("Related events"))
    expect(events).to_contain_text("TEMPLATE.DIRECT.DOWNLOAD.FAILURE")
    screenshot(page, "template-detail-failed")
    assert_accessible(page)
