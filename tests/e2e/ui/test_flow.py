"""Issue 15's whole direct-download flow in the web UI, in order, on one real server and agent."""

import re
import secrets
from collections.abc import Iterator

import pytest
import trustme
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import HEADER
from tests.e2e.ui.conftest import Ui, deploy_with_wizard, running_ui
from tests.e2e.ui.test_certificates import dialog_accept, dismiss_notices
from tests.e2e.ui.test_images import SETTLE_MS, host_name, prepare_on_the_pool
from tests.e2e.ui.test_instances import DEPLOY_TIMEOUT_MS
from tests.e2e.ui.test_register import fill_source
from tests.support.browser import assert_accessible, login, screenshot
from tests.support.libvirt import domain_state, libvirt_or_skip

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    """The stack, with the agent's certificate store in the test's directory, not in /etc."""
    workdir = tmp_path_factory.mktemp("ui-flow")
    agent_env = {"KVMCLOUD_AGENT_CERT_DIR": str(workdir / "agent-certs")}
    with running_ui(workdir, agent_env) as running:
        yield running


def open_from_nav(page: Page, link: str, heading: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()


def register_in_the_form(ui: Ui, page: Page, name: str, checksum: str | None = None) -> None:
    """Fill Register template with the stack's image, its header and ``checksum``; open it."""
    open_from_nav(page, "Register template", "Register template")
    expect(page.get_by_label("Zone")).to_have_value(ui.stack.zone_id)
    fill_source(ui, page, name)
    if checksum is not None:
        page.get_by_label("Checksum").fill(checksum)
    page.get_by_role("button", name="Add header").click()
    page.get_by_label("Header 1 name").fill(HEADER[0])
    page.get_by_label("Header 1 value").fill(HEADER[1])
    page.get_by_role("button", name="Register template").click()
    result = page.get_by_role("region", name=f"Registered {name}")
    expect(result).to_be_visible()
    result.get_by_role("link", name="Open the template").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()


def pool_copy(page: Page) -> Locator:
    """The row of the template's copy on the stack's pool."""
    return page.get_by_role("table", name=re.compile("Copies on primary storage")).get_by_role(
        "row", name=re.compile("pool1")
    )


def test_the_whole_direct_download_flow(ui: Ui, page: Page) -> None:
    with libvirt_or_skip():
        api = ui.stack.api
        api.updateConfiguration(name="instance.name", value=f"flow-{secrets.token_hex(3)}")
        api.createServiceOffering(
            name="flow-tiny", displaytext="flow-tiny", cpunumber=1, cpuspeed=500, memory=64
        )
        page.on("dialog", lambda dialog: dialog_accept(dialog, "flow-ca"))

        # 1. Log in.
        login(page, ui.url, ui.username, ui.password)
        screenshot(page, "flow-1-logged-in")

        # 2. Register with Direct Download and a checksum; the checkbox is KVM's alone.
        open_from_nav(page, "Register template", "Register template")
        direct = page.get_by_label("Direct download")
        page.get_by_label("Hypervisor").select_option("XenServer")
        expect(direct).to_have_count(0)
        screenshot(page, "flow-2-no-direct-download-for-xenserver")
        page.get_by_label("Hypervisor").select_option("KVM")
        expect(direct).to_be_checked()
        register_in_the_form(ui, page, "flow-template")
        (template,) = api.listTemplates(templatefilter="all", name="flow-template")["template"]
        assert template["directdownload"] is True
        assert template["checksum"] == ui.stack.image_sha256
        screenshot(page, "flow-2-registered")

        # 3. Prepare it on the pool and watch the copy reach 100 %.
        expect(page.get_by_role("note")).to_contain_text("Bypassed Secondary Storage")
        prepare_on_the_pool(page)
        copy = pool_copy(page)
        expect(copy).to_contain_text("DOWNLOADED", timeout=SETTLE_MS)
        expect(copy.get_by_role("progressbar")).to_have_attribute("value", "100")
        expect(copy).to_contain_text("100%")
        expect(copy).to_contain_text(host_name(ui.stack))
        screenshot(page, "flow-3-prepared")

        # 4. Deploy a VM from it with the wizard and see it Running.
        open_from_nav(page, "Instances", "Instances")
        page.get_by_role("link", name="Deploy instance").click()
        deploy_with_wizard(page, name="flow-vm", template="flow-template", offering="flow-tiny")
        heading = page.get_by_role("heading", name=re.compile(r"^Instance flow-vm"), level=1)
        expect(heading).to_contain_text("Running", timeout=DEPLOY_TIMEOUT_MS)
        (vm,) = api.listVirtualMachines(name="flow-vm", listall=True)["virtualmachine"]
        assert domain_state(vm["instancename"]) == "running"
        screenshot(page, "flow-4-running")
        assert_accessible(page)
        try:
            # 5. Upload a CA certificate, see each host's state, revoke it for the zone.
            open_from_nav(page, "Certificates", "Certificates")
            page.get_by_label("Name", exact=True).fill("flow-ca")
            page.get_by_label("Certificate (PEM)").fill(trustme.CA().cert_pem.bytes().decode())
            page.get_by_role("button", name="Upload certificate").click()
            host_map = page.get_by_role("list", name="Hosts of flow-ca")
            entry = host_map.get_by_role("listitem").filter(has_text=host_name(ui.stack))
            expect(entry).to_contain_text("UPLOADED")
            dismiss_notices(page)
            screenshot(page, "flow-5-certificate-uploaded")
            page.get_by_role("button", name="Revoke flow-ca for the zone").click()
            expect(entry).to_contain_text("REVOKED")
            dismiss_notices(page)
            screenshot(page, "flow-5-certificate-revoked")

            # 6. A wrong checksum: the download fails, the detail says why and who tried.
            wrong = "{SHA-256}" + "0" * 64
            register_in_the_form(ui, page, "flow-wrong-checksum", checksum=wrong)
            prepare_on_the_pool(page)
            expect(page.get_by_role("status")).to_contain_text("failed", timeout=SETTLE_MS)
            (listed,) = api.listTemplates(templatefilter="all", name="flow-wrong-checksum")[
                "template"
            ]
            (detail,) = listed["downloaddetails"]
            assert re.search("checksum", detail["errortext"] or "", re.IGNORECASE), detail
            failed = pool_copy(page)
            expect(failed).to_contain_text(detail["errortext"], timeout=SETTLE_MS)
            assert detail["failures"], detail
            for failure in detail["failures"]:
                expect(failed).to_contain_text(f"{failure['hostname']}: {failure['reason']}")
            screenshot(page, "flow-6-failed-download")
        finally:
            api.destroyVirtualMachine(id=vm["id"], expunge=True)

        # 7. Log out: the login form again.
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
        expect(page.get_by_role("button", name="Log out")).to_have_count(0)
        screenshot(page, "flow-7-logged-out")
