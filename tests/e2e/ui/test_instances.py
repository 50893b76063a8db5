"""Instances in the web UI: deploy, serial console, stop, destroy and expunge on real libvirt."""

import re
import secrets
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import conftest as e2e
from tests.e2e.conftest import HEADER
from tests.e2e.ui.conftest import Ui
from tests.support.browser import assert_accessible, login, screenshot
from tests.support.images import BOOT_MESSAGE, make_boot_iso
from tests.support.libvirt import domain_state, libvirt_or_skip

pytestmark = pytest.mark.e2e

# Deploying downloads the template and boots the domain: longer than a click's wait.
DEPLOY_TIMEOUT_MS = 120_000
JOB_TIMEOUT_MS = 60_000


def register_template(ui: Ui, name: str) -> str:
    """A direct-download template from the stack's origin, as tests/e2e/test_vms.py has it."""
    return str(e2e.register_template(ui.stack, name)["id"])


def test_deploy_stop_destroy_and_expunge_an_instance(ui: Ui, page: Page) -> None:
    with libvirt_or_skip():
        api = ui.stack.api
        # Domain names must not collide with another run's on this host's libvirt.
        api.updateConfiguration(name="instance.name", value=f"ui-{secrets.token_hex(3)}")
        api.createServiceOffering(
            name="ui-tiny", displaytext="ui-tiny", cpunumber=1, cpuspeed=500, memory=64
        )
        register_template(ui, "ui-boot")
        make_boot_iso(ui.stack.workdir / "images" / "ui.iso")
        api.registerIso(
            name="ui-iso",
            displaytext="ui-iso",
            zoneid=ui.stack.zone_id,
            url=ui.stack.origin.url("/ui.iso"),
            directdownload=True,
            details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
        )
        # Destroy and expunge ask for confirmation.
        page.on("dialog", lambda dialog: dialog.accept())

        login(page, ui.url, ui.username, ui.password)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Instances").click()
        expect(page.get_by_role("heading", name="Instances", level=1)).to_be_visible()
        page.get_by_role("link", name="Deploy instance").click()
        expect(page.get_by_role("heading", name="Deploy instance", level=1)).to_be_visible()
        expect(page.get_by_role("combobox", name="Template")).to_contain_text("ui-boot")
        page.get_by_role("combobox", name="Template").select_option(label="ui-boot")
        page.get_by_label("Service offering").select_option(label="ui-tiny")
        page.get_by_label("Name").fill("ui-vm")
        assert_accessible(page)
        page.get_by_role("button", name="Deploy").click()

        heading = page.get_by_role("heading", name=re.compile(r"^Instance ui-vm"), level=1)
        expect(heading).to_be_visible(timeout=DEPLOY_TIMEOUT_MS)
        expect(heading).to_contain_text("Running")
        vm = api.listVirtualMachines(name="ui-vm", listall=True)["virtualmachine"][0]
        assert vm["state"] == "Running"
        assert domain_state(vm["instancename"]) == "running"
        expect(page.get_by_text(vm["nic"][0]["ipaddress"])).to_be_visible()
        screenshot(page, "instance-running")
        assert_accessible(page)

        # The guest prints its boot marker on the serial console; Refresh until it shows.
        console = page.get_by_role("region", name="Serial console")
        expect(console).to_be_visible()
        deadline = time.monotonic() + JOB_TIMEOUT_MS / 1000
        while BOOT_MESSAGE.decode() not in console.inner_text() and time.monotonic() < deadline:
            page.get_by_role("button", name="Refresh").click()
            expect(page.get_by_role("status")).to_contain_text("Serial console refreshed")
            time.sleep(1)
        expect(console).to_contain_text(BOOT_MESSAGE.decode())

        iso_attached = page.get_by_role("definition").filter(has_text="ui-iso")
        page.get_by_label("ISO to attach").select_option(label="ui-iso")
        page.get_by_role("button", name="Attach ISO").click()
        expect(iso_attached).to_be_visible(timeout=JOB_TIMEOUT_MS)
        expect(page.get_by_role("status")).to_contain_text("ISO attached")
        assert api.listVirtualMachines(id=vm["id"])["virtualmachine"][0]["isoname"] == "ui-iso"
        page.get_by_role("button", name="Detach ISO").click()
        expect(iso_attached).to_have_count(0, timeout=JOB_TIMEOUT_MS)
        expect(page.get_by_role("status")).to_contain_text("ISO ui-iso detached")

        # The test image has no ACPI handler: power it off, as tests/e2e/test_vms.py does.
        page.get_by_role("button", name="Force stop").click()
        expect(heading).to_contain_text("Stopped", timeout=JOB_TIMEOUT_MS)
        expect(page.get_by_role("status")).to_contain_text("Stopped: Stopped")
        assert domain_state(vm["instancename"]) == "stopped"

        page.get_by_role("button", name="Destroy").click()
        expect(heading).to_contain_text("Destroyed", timeout=JOB_TIMEOUT_MS)
        page.get_by_role("button", name="Expunge").click()
        expect(page.get_by_role("heading", name="Instances", level=1)).to_be_visible(
            timeout=JOB_TIMEOUT_MS
        )
        expect(page.get_by_role("status")).to_contain_text("Instance ui-vm expunged")
        assert api.listVirtualMachines(id=vm["id"], listall=True) == {}
        assert domain_state(vm["instancename"]) is None
        expect(page.get_by_role("link", name="ui-vm")).to_have_count(0)


def test_deploy_from_an_iso_asks_for_a_disk_offering(ui: Ui, page: Page) -> None:
    with libvirt_or_skip():
        api = ui.stack.api
        api.updateConfiguration(name="instance.name", value=f"ui-{secrets.token_hex(3)}")
        api.createServiceOffering(
            name="ui-iso-tiny", displaytext="ui-iso-tiny", cpunumber=1, cpuspeed=500, memory=64
        )
        api.createDiskOffering(name="ui-small", displaytext="ui-small", disksize=1)
        make_boot_iso(ui.stack.workdir / "images" / "ui-deploy.iso")
        api.registerIso(
            name="ui-deploy-iso",
            displaytext="ui-deploy-iso",
            zoneid=ui.stack.zone_id,
            url=ui.stack.origin.url("/ui-deploy.iso"),
            directdownload=True,
            details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
        )

        login(page, ui.url, ui.username, ui.password)
        page.goto(f"{ui.url}#/instances/deploy")
        expect(page.get_by_label("Disk offering")).to_have_count(0)
        page.get_by_role("radio", name="An ISO").check()
        page.get_by_role("combobox", name="ISO").select_option(label="ui-deploy-iso")
        page.get_by_label("Service offering").select_option(label="ui-iso-tiny")
        page.get_by_label("Disk offering").select_option(label="ui-small")
        page.get_by_label("Name").fill("ui-iso-vm")
        assert_accessible(page)
        page.get_by_role("button", name="Deploy").click()

        heading = page.get_by_role("heading", name=re.compile(r"^Instance ui-iso-vm"), level=1)
        expect(heading).to_contain_text("Running", timeout=DEPLOY_TIMEOUT_MS)
        vm = api.listVirtualMachines(name="ui-iso-vm", listall=True)["virtualmachine"][0]
        assert vm["isoname"] == "ui-deploy-iso"
        root = api.listVolumes(virtualmachineid=vm["id"])["volume"][0]
        assert root["size"] == 1024**3
        api.destroyVirtualMachine(id=vm["id"], expunge=True)
        assert domain_state(vm["instancename"]) is None
