"""Registering a template in the web UI: checksum validation, headers, errors and the result."""

import hashlib
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import HEADER
from tests.e2e.ui.conftest import Ui
from tests.support.browser import assert_accessible, login, screenshot
from tests.support.metalink import meta4
from tests.support.origin import Origin
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e


def open_register_template(ui: Ui, page: Page) -> None:
    login(page, ui.url, ui.username, ui.password)
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Register template"
    ).click()
    expect(page.get_by_role("heading", name="Register template", level=1)).to_be_visible()
    # The zone select is filled from listZones before the form can be submitted.
    expect(page.get_by_label("Zone")).to_have_value(ui.stack.zone_id)


def fill_source(ui: Ui, page: Page, name: str) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("URL").fill(ui.stack.origin.url(ui.stack.image_path))
    page.get_by_label("Checksum").fill(f"{{SHA-256}}{ui.stack.image_sha256}")


def test_register_template_with_checksum_and_header(ui: Ui, page: Page) -> None:
    open_register_template(ui, page)
    direct = page.get_by_label("Direct download")
    hypervisor = page.get_by_label("Hypervisor")
    expect(hypervisor).to_have_value("KVM")
    expect(direct).to_be_visible()
    hypervisor.select_option("XenServer")
    expect(direct).to_have_count(0)
    hypervisor.select_option("KVM")
    expect(direct).to_be_checked()

    page.get_by_label("Name", exact=True).fill("ui-registered")
    page.get_by_label("URL").fill(ui.stack.origin.url(ui.stack.image_path))
    checksum = page.get_by_label("Checksum")
    submit = page.get_by_role("button", name="Register template")
    checksum.fill("{SHA-256}abc123")
    expect(page.get_by_role("alert")).to_have_text("A SHA-256 digest has 64 hex digits, not 6")
    expect(checksum).to_have_attribute("aria-invalid", "true")
    expect(submit).to_be_disabled()
    checksum.fill("{SHA-3}" + ui.stack.image_sha256)
    expect(page.get_by_role("alert")).to_contain_text("Unknown checksum algorithm SHA-3")
    checksum.fill("zz" + ui.stack.image_sha256[2:])
    expect(page.get_by_role("alert")).to_contain_text("only hexadecimal digits")
    # A bare digest's length names its algorithm, as the server infers it.
    checksum.fill(ui.stack.image_sha256)
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(submit).to_be_enabled()

    page.get_by_role("button", name="Add header").click()
    page.get_by_label("Header 1 name").fill(HEADER[0])
    page.get_by_label("Header 1 value").fill(HEADER[1])
    assert_accessible(page)
    screenshot(page, "register-template")

    submit.click()

    result = page.get_by_role("region", name="Registered ui-registered")
    expect(result).to_be_visible()
    expect(result).to_contain_text(f"HTTP_HEADER:{HEADER[0]}")
    expect(result).to_contain_text("******")
    expect(result).not_to_contain_text(HEADER[1])
    link = result.get_by_role("link", name="Open the template")
    href = link.get_attribute("href")
    assert href is not None
    matched = re.fullmatch(r"#/templates/([0-9a-f-]{36})", href)
    assert matched, href
    (template,) = ui.stack.api.listTemplates(templatefilter="all", id=matched.group(1))["template"]
    assert template["name"] == "ui-registered"
    assert template["directdownload"] is True
    assert template["checksum"] == ui.stack.image_sha256
    assert template["details"] == {f"HTTP_HEADER:{HEADER[0]}": "******"}
    screenshot(page, "register-template-done")


def test_refused_url_shows_the_api_errortext_under_the_url(ui: Ui, page: Page) -> None:
    open_register_template(ui, page)
    # No header: the origin refuses the host's URL check, and the API says why.
    fill_source(ui, page, "ui-refused")
    with page.expect_response(lambda r: r.url.endswith("/client/api") and r.status != 200) as got:
        page.get_by_role("button", name="Register template").click()
    errortext = got.value.json()["registertemplateresponse"]["errortext"]
    assert errortext

    url_field = page.locator(".field", has=page.get_by_label("URL"))
    expect(url_field.get_by_role("alert")).to_have_text(errortext)
    expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    assert ui.stack.api.listTemplates(templatefilter="all", name="ui-refused").get("count", 0) == 0


def test_register_iso_has_no_hypervisor_and_always_offers_direct_download(
    ui: Ui, page: Page
) -> None:
    login(page, ui.url, ui.username, ui.password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Register ISO").click()
    expect(page.get_by_role("heading", name="Register ISO", level=1)).to_be_visible()
    expect(page.get_by_label("Zone")).to_have_value(ui.stack.zone_id)

    expect(page.get_by_label("Hypervisor")).to_have_count(0)
    expect(page.get_by_label("Format")).to_have_value("ISO")
    expect(page.get_by_label("Format")).to_be_disabled()
    expect(page.get_by_label("Direct download")).to_be_checked()
    assert_accessible(page)


def test_metalink_registration_lists_its_mirror_checks(ui: Ui, page: Page) -> None:
    data = (ui.stack.workdir / "images" / "tiny.qcow2").read_bytes()
    dead_url = f"http://127.0.0.1:{free_port()}/tiny.qcow2"
    with Origin(files={"/tiny.qcow2": data}) as good, Origin(files={}) as site:
        site.files["/tiny.meta4"] = meta4(
            [(dead_url, 1), (good.url("/tiny.qcow2"), 2)],
            size=len(data),
            hashes={"sha-256": hashlib.sha256(data).hexdigest()},
        )
        open_register_template(ui, page)
        page.get_by_label("Name", exact=True).fill("ui-metalink")
        page.get_by_label("URL").fill(site.url("/tiny.meta4"))
        page.get_by_role("button", name="Register template").click()

        result = page.get_by_role("region", name="Registered ui-metalink")
        expect(result).to_be_visible()
        mirrors = result.get_by_role("listitem")
        expect(mirrors).to_have_count(2)
        expect(mirrors.filter(has_text=good.url("/tiny.qcow2"))).to_contain_text("OK")
        expect(mirrors.filter(has_text=dead_url)).to_contain_text("Failed")
        screenshot(page, "register-template-metalink")
