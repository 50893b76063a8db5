"""The certificates screen: upload a CA by paste, see each host's state, revoke for the zone."""

import re
from collections.abc import Iterator

import pytest
import trustme
from playwright.sync_api import Dialog, Page, expect

from tests.e2e.conftest import running_stack
from tests.e2e.ui.conftest import Ui
from tests.support.browser import TABLET, UI_INDEX, assert_accessible, login, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    """The shared stack, but with the agent's certificate store in the test's directory.

    The agent's default store is /etc/kvmcloud-agent/certs: an upload must not write there.
    """
    if not UI_INDEX.exists():
        pytest.skip(f"the web UI is not built ({UI_INDEX} is missing): run `make ui`")
    workdir = tmp_path_factory.mktemp("ui-certs")
    agent_env = {"KVMCLOUD_AGENT_CERT_DIR": str(workdir / "agent-certs")}
    with running_stack(f"sqlite:///{workdir}/kvmcloud.db", workdir, agent_env) as stack:
        assert stack.keys.password, "the first init prints the admin's generated password"
        url = stack.endpoint.removesuffix("api")
        yield Ui(stack=stack, url=url, username="admin", password=stack.keys.password)


def test_upload_by_paste_shows_the_host_map_and_revoke_revokes(ui: Ui, page: Page) -> None:
    (host,) = ui.stack.api.listHosts()["host"]
    pem = trustme.CA().cert_pem.bytes().decode()
    login(page, ui.url, ui.username, ui.password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Certificates").click()
    expect(page.get_by_role("heading", name="Certificates", level=1)).to_be_visible()

    page.get_by_label("Name", exact=True).fill("ui-ca")
    page.get_by_label("Certificate (PEM)").fill(pem)
    page.get_by_role("button", name="Upload certificate").click()

    expect(page.get_by_role("status")).to_contain_text("Certificate ui-ca uploaded")
    host_map = page.get_by_role("list", name="Hosts of ui-ca")
    entry = host_map.get_by_role("listitem").filter(has_text=host["name"])
    expect(entry).to_contain_text("UPLOADED")
    # What the page shows is what the API says.
    (listed,) = ui.stack.api.listTemplateDirectDownloadCertificates(listhosts=True)[
        "directdownloadcertificate"
    ]
    assert [(h["hostname"], h["status"]) for h in listed["hostsmap"]] == [
        (host["name"], "UPLOADED")
    ]
    assert_accessible(page)

    page.once("dialog", lambda dialog: dialog_accept(dialog, "ui-ca"))
    page.get_by_role("button", name="Revoke ui-ca for the zone").click()

    expect(page.get_by_role("status")).to_contain_text(re.compile("revoked for the zone"))
    expect(entry).to_contain_text("REVOKED")
    # The messages sit over the table's right-hand side (the host map and the row's last
    # buttons): dismiss them, as a person would, for the picture and the next click.
    dismiss_notices(page)
    screenshot(page, "certificates-host-map")
    assert_accessible(page)
    (listed,) = ui.stack.api.listTemplateDirectDownloadCertificates(listhosts=True)[
        "directdownloadcertificate"
    ]
    assert [h["status"] for h in listed["hostsmap"]] == ["REVOKED"]

    # Provisioning the host (the only one, chosen by default) gives it the certificate back.
    expect(page.get_by_label("Host for ui-ca")).to_have_value(host["id"])
    page.get_by_role("button", name="Provision ui-ca to host").click()
    expect(page.get_by_role("status")).to_contain_text("Certificate ui-ca provisioned")
    expect(entry).to_contain_text("UPLOADED")


def test_a_certificate_file_is_read_into_the_form(ui: Ui, page: Page) -> None:
    pem = trustme.CA().cert_pem.bytes()
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/certificates")

    page.get_by_label("Certificate file").set_input_files(
        files=[{"name": "ca.pem", "mimeType": "text/plain", "buffer": pem}]
    )

    expect(page.get_by_label("Certificate (PEM)")).to_have_value(pem.decode())
    upload = page.get_by_role("button", name="Upload certificate")
    expect(upload).to_be_disabled()  # still nameless
    page.get_by_label("Name", exact=True).fill("from-file")
    upload.click()
    host_map = page.get_by_role("list", name="Hosts of from-file")
    expect(host_map).to_contain_text("UPLOADED")

    # Revoking on the one chosen host revokes it there only (the stack has one host).
    dismiss_notices(page)
    page.get_by_role("button", name="Revoke from-file on host").click()
    expect(page.get_by_role("status")).to_contain_text("Certificate from-file revoked on the host")
    expect(host_map).to_contain_text("REVOKED")


def dismiss_notices(page: Page) -> None:
    dismiss = page.get_by_role("status").get_by_role("button", name="Dismiss")
    while dismiss.count() > 0:
        dismiss.first.click()
    expect(dismiss).to_have_count(0)


def dialog_accept(dialog: Dialog, alias: str) -> None:
    assert alias in dialog.message, dialog.message
    dialog.accept()


def test_certificates_screen_fits_a_tablet(ui: Ui, tablet_page: Page) -> None:
    page = tablet_page
    pem = trustme.CA().cert_pem.bytes().decode()
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/certificates")
    page.get_by_label("Name", exact=True).fill("tablet-ca")
    page.get_by_label("Certificate (PEM)").fill(pem)
    page.get_by_role("button", name="Upload certificate").click()
    # The widest state: a row with its host map and its actions (host choice, buttons).
    expect(page.get_by_role("list", name="Hosts of tablet-ca")).to_contain_text("UPLOADED")
    expect(page.get_by_label("Host for tablet-ca")).to_be_visible()
    dismiss_notices(page)

    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {TABLET['width']} px"
    assert_accessible(page)
    screenshot(page, "certificates-tablet")
