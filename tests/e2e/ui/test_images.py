"""The templates screens: the list, a direct-download template's detail and its pool copies."""

import os
import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import HEADER, Stack, register_template
from tests.e2e.ui.conftest import Ui
from tests.support.browser import assert_accessible, login, screenshot
from tests.support.images import make_boot_iso

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
    screenshot(page, "template-detail-downloaded")
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
        # The admin sees which host got what.
        expect(copy).to_contain_text(f"{failure['hostname']}: {failure['reason']}")
    expect(page.get_by_role("status")).to_contain_text("failed", timeout=SETTLE_MS)
    # The failure's event is listed with the template's own events.
    events = page.get_by_role("table", name=re.compile("Related events"))
    expect(events).to_contain_text("TEMPLATE.DIRECT.DOWNLOAD.FAILURE")
    screenshot(page, "template-detail-failed")
    assert_accessible(page)


def copy_row(page: Page, pool: str = "pool1") -> Locator:
    table = page.get_by_role("table", name=re.compile("Copies on primary storage"))
    return table.get_by_role("row", name=re.compile(pool))


def test_a_copy_mid_download_shows_bytes_percent_rate_and_eta(ui: Ui, page: Page) -> None:
    stack = ui.stack
    # The agent reads the body 4 MiB at a time: 16 MiB in about 24 s shows the copy on its
    # way (25 %, 50 %, 75 %) with a rate and an ETA for several seconds.
    size = 16 * 1024 * 1024
    stack.origin.files["/slow.raw"] = os.urandom(size)
    (template,) = stack.api.registerTemplate(
        name="ui-slow",
        displaytext="ui-slow",
        url=stack.origin.url("/slow.raw"),
        format="RAW",
        hypervisor="KVM",
        zoneid=stack.zone_id,
        directdownload=True,
        details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
    )["template"]
    stack.origin.throttle_bps["/slow.raw"] = size // 24
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/templates/{template['id']}")
    expect(page.get_by_role("heading", name="ui-slow", level=1)).to_be_visible()

    prepare_on_the_pool(page)

    copy = copy_row(page)
    cells = copy.get_by_role("cell")
    # State, progress, bytes, rate, ETA, host, attempts (the pool is the row's header).
    state, progress, received, rate, eta = (cells.nth(i) for i in range(5))
    # The first bytes are in while the copy is still downloading: a rate and an ETA.
    expect(copy).to_contain_text(
        re.compile(r"DOWNLOAD_IN_PROGRESS.*\d (B|KiB|MiB)/s"), timeout=SETTLE_MS
    )
    expect(state).to_contain_text("DOWNLOAD_IN_PROGRESS")
    expect(rate).to_have_text(re.compile(r"^\d+(\.\d)? (B|KiB|MiB)/s$"))
    expect(eta).to_have_text(re.compile(r"\d+ (s|min)"))
    expect(received).to_have_text(re.compile(r"^\d+(\.\d)? (B|KiB|MiB) / 16\.0 MiB$"))
    percent = int(progress.locator(".pct").inner_text().removesuffix("%"))
    assert 0 < percent < 100
    expect(copy).to_contain_text(host_name(stack))
    screenshot(page, "template-detail-progress")
    # Still on its way when the picture was taken.
    expect(state).to_contain_text("DOWNLOAD_IN_PROGRESS", timeout=1)
    assert_accessible(page)

    del stack.origin.throttle_bps["/slow.raw"]
    expect(state).to_contain_text("DOWNLOADED", timeout=SETTLE_MS)
    expect(copy.get_by_role("progressbar")).to_have_attribute("value", "100")
    expect(eta).to_have_text("—")


def test_an_iso_is_prepared_on_a_pool_and_listed_on_the_pools_page(ui: Ui, page: Page) -> None:
    stack = ui.stack
    make_boot_iso(stack.workdir / "images" / "ui-prep.iso")
    (iso,) = stack.api.registerIso(
        name="ui-prep-iso",
        displaytext="ui-prep-iso",
        zoneid=stack.zone_id,
        url=stack.origin.url("/ui-prep.iso"),
        directdownload=True,
        details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
    )["iso"]
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/isos/{iso['id']}")
    expect(page.get_by_role("heading", name="ui-prep-iso", level=1)).to_be_visible()

    prepare_on_the_pool(page)

    expect(copy_row(page)).to_contain_text("DOWNLOADED", timeout=SETTLE_MS)
    expect(page.get_by_role("status")).to_contain_text("prepared on the pool", timeout=SETTLE_MS)
    (listed,) = stack.api.listIsos(isofilter="all", id=iso["id"])["iso"]
    assert [c["downloadState"] for c in listed["downloaddetails"]] == ["DOWNLOADED"]

    # The pool's page lists its copies, asked of the server by pool (storageid).
    (pool,) = stack.api.listStoragePools()["storagepool"]
    page.goto(f"{ui.url}#/storage/{pool['id']}")
    isos = page.get_by_role("table", name=re.compile("ISO copies on this pool"))
    row = isos.get_by_role("row").filter(has_text="ui-prep-iso")
    expect(row).to_contain_text("DOWNLOADED")
    expect(row).to_contain_text("100%")
    on_pool = stack.api.listTemplates(templatefilter="all", storageid=pool["id"])
    templates = page.get_by_role("table", name=re.compile("Template copies on this pool"))
    expect(templates.get_by_role("caption")).to_contain_text(f"({on_pool.get('count', 0)})")
    assert_accessible(page)
    row.get_by_role("link", name="ui-prep-iso").click()
    expect(page.get_by_role("heading", name="ui-prep-iso", level=1)).to_be_visible()


def fits_the_width(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_templates_list_and_detail_fit_a_tablet(ui: Ui, tablet_page: Page) -> None:
    page = tablet_page
    template = register(ui.stack, "ui-tablet", ui.stack.image_path)
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/templates")
    listing = page.get_by_role("table", name=re.compile("Templates"))
    expect(listing.get_by_role("link", name="ui-tablet")).to_be_visible()
    assert fits_the_width(page), "the templates list scrolls sideways at 768 px"
    assert_accessible(page)

    listing.get_by_role("link", name="ui-tablet").click()
    expect(page.get_by_role("heading", name="ui-tablet", level=1)).to_be_visible()
    assert page.url.endswith(f"#/templates/{template['id']}")
    expect(page.get_by_role("table", name=re.compile("Copies on primary storage"))).to_be_visible()
    assert fits_the_width(page), "the template detail scrolls sideways at 768 px"
    assert_accessible(page)
