"""Instances in the web UI: the deploy wizard, serial console, stop, destroy, expunge on libvirt."""

import re
import secrets
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import conftest as e2e
from tests.e2e.conftest import HEADER
from tests.e2e.ui.conftest import Ui, deploy_with_wizard, expect_step
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
        expect(page.get_by_label("Zone")).to_have_value(ui.stack.zone_id)
        expect(page.get_by_role("button", name="Back")).to_be_disabled()
        assert_accessible(page)
        # The keyboard alone goes on: Tab from the zone reaches Next (Back is disabled).
        page.get_by_label("Zone").focus()
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Next")).to_be_focused()
        page.keyboard.press("Enter")
        expect_step(page, 2, "Image")
        page.get_by_role("combobox", name="Template").select_option(label="ui-boot")
        # Back returns with the choices kept.
        page.get_by_role("button", name="Back").click()
        expect_step(page, 1, "Zone")
        page.get_by_role("button", name="Next").click()
        expect(
            page.get_by_role("combobox", name="Template").locator("option:checked")
        ).to_have_text("ui-boot")
        # The steps already done are buttons back to them.
        page.get_by_role("navigation", name="Deploy steps").get_by_role(
            "button", name="1. Zone"
        ).click()
        expect_step(page, 1, "Zone")
        page.get_by_role("button", name="Next").click()
        page.get_by_role("button", name="Next").click()
        expect_step(page, 3, "Offering")
        page.get_by_label("Service offering").select_option(label="ui-tiny")
        assert_accessible(page)
        page.get_by_role("button", name="Next").click()
        expect_step(page, 4, "Network")
        page.get_by_role("button", name="Next").click()
        expect_step(page, 5, "Review")
        # A name deployVirtualMachine refuses is caught on the step, with the reason.
        name = page.get_by_label("Name", exact=True)
        name.fill("9-bad name")
        expect(name).to_have_attribute("aria-invalid", "true")
        page.get_by_role("button", name="Deploy").click()
        expect(page.locator("form").get_by_role("alert").last).to_contain_text(
            "Name: Up to 63 letters"
        )
        expect_step(page, 5, "Review", focused=False)
        name.fill("ui-vm")
        page.get_by_label("Display name").fill("UI test VM")
        summary = page.get_by_role("definition")
        expect(summary.filter(has_text="ui-boot")).to_have_count(1)
        expect(summary.filter(has_text="ui-tiny")).to_have_count(1)
        expect(summary.filter(has_text="Zone default")).to_have_count(1)
        assert_accessible(page)
        screenshot(page, "deploy-wizard-review")
        page.get_by_role("button", name="Deploy").click()

        heading = page.get_by_role("heading", name=re.compile(r"^Instance ui-vm"), level=1)
        expect(heading).to_be_visible(timeout=DEPLOY_TIMEOUT_MS)
        expect(heading).to_contain_text("Running")
        vm = api.listVirtualMachines(name="ui-vm", listall=True)["virtualmachine"][0]
        assert vm["state"] == "Running"
        assert vm["displayname"] == "UI test VM"
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
        page.get_by_role("button", name="Next").click()
        expect(page.get_by_label("Disk offering")).to_have_count(0)
        page.get_by_role("radio", name="An ISO").check()
        expect(page.get_by_label("Disk offering")).to_be_visible()
        assert_accessible(page)
        page.get_by_role("button", name="Back").click()
        deploy_with_wizard(
            page,
            name="ui-iso-vm",
            offering="ui-iso-tiny",
            iso="ui-deploy-iso",
            disk_offering="ui-small",
        )

        heading = page.get_by_role("heading", name=re.compile(r"^Instance ui-iso-vm"), level=1)
        expect(heading).to_contain_text("Running", timeout=DEPLOY_TIMEOUT_MS)
        vm = api.listVirtualMachines(name="ui-iso-vm", listall=True)["virtualmachine"][0]
        assert vm["isoname"] == "ui-deploy-iso"
        root = api.listVolumes(virtualmachineid=vm["id"])["volume"][0]
        assert root["size"] == 1024**3
        api.destroyVirtualMachine(id=vm["id"], expunge=True)
        assert domain_state(vm["instancename"]) is None


def test_pool_tags_narrow_the_offerings_and_the_pools(ui: Ui, page: Page) -> None:
    with libvirt_or_skip():
        api = ui.stack.api
        api.updateConfiguration(name="instance.name", value=f"ui-{secrets.token_hex(3)}")
        api.updateStoragePool(id=ui.stack.pool_id, tags="ui-fast")
        pool = api.listStoragePools(id=ui.stack.pool_id)["storagepool"][0]
        offering = dict(cpunumber=1, cpuspeed=500, memory=64)
        api.createServiceOffering(
            name="ui-on-fast", displaytext="ui-on-fast", tags="ui-fast", **offering
        )
        api.createServiceOffering(
            name="ui-on-slow", displaytext="ui-on-slow", tags="ui-slow", **offering
        )
        register_template(ui, "ui-tagged-boot")
        try:
            login(page, ui.url, ui.username, ui.password)
            page.goto(f"{ui.url}#/instances/deploy")
            page.get_by_role("button", name="Next").click()
            page.get_by_role("combobox", name="Template").select_option(label="ui-tagged-boot")
            page.get_by_role("button", name="Next").click()
            expect_step(page, 3, "Offering")
            offerings = page.get_by_label("Service offering")
            help_text = page.get_by_role("group", name="Pool tags")
            expect(help_text).to_contain_text("no pool parameter")
            # No tag chosen: every offering, whatever its storage tags.
            expect(offerings).to_contain_text("ui-on-fast")
            expect(offerings).to_contain_text("ui-on-slow")
            fast = page.get_by_role("checkbox", name="ui-fast", exact=True)
            fast.check()
            expect(help_text).to_contain_text(f"Pools with all chosen tags: {pool['name']}")
            expect(offerings).to_contain_text("ui-on-fast")
            expect(offerings).not_to_contain_text("ui-on-slow")
            offerings.select_option(label="ui-on-fast")
            expect(page.get_by_text("Storage tags: ui-fast")).to_contain_text(
                f"its root disk can land on: {pool['name']}"
            )
            assert_accessible(page)
            screenshot(page, "deploy-wizard-pool-tags")
            page.get_by_role("button", name="Next").click()
            page.get_by_role("button", name="Next").click()
            expect_step(page, 5, "Review")
            page.get_by_label("Name", exact=True).fill("ui-tagged-vm")
            page.get_by_role("button", name="Deploy").click()

            heading = page.get_by_role(
                "heading", name=re.compile(r"^Instance ui-tagged-vm"), level=1
            )
            expect(heading).to_contain_text("Running", timeout=DEPLOY_TIMEOUT_MS)
            (vm,) = api.listVirtualMachines(name="ui-tagged-vm", listall=True)["virtualmachine"]
            assert vm["serviceofferingname"] == "ui-on-fast"
            (root,) = api.listVolumes(virtualmachineid=vm["id"])["volume"]
            assert root["storageid"] == ui.stack.pool_id
            api.destroyVirtualMachine(id=vm["id"], expunge=True)
            assert domain_state(vm["instancename"]) is None
        finally:
            api.updateStoragePool(id=ui.stack.pool_id, tags="")


def assert_fits(page: Page) -> None:
    """No horizontal scrolling: the page is no wider than the viewport."""
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page is {width[0]} px wide in a {width[1]} px viewport"


def test_wizard_list_and_detail_fit_a_tablet(ui: Ui, tablet_page: Page) -> None:
    page = tablet_page
    api = ui.stack.api
    api.createServiceOffering(
        name="ui-tablet", displaytext="ui-tablet", cpunumber=1, cpuspeed=500, memory=64
    )
    template = register_template(ui, "ui-tablet-boot")
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/instances/deploy")
    titles = ["Zone", "Image", "Offering", "Network", "Review"]
    for number, title in enumerate(titles, start=1):
        if number > 1:
            page.get_by_role("button", name="Next").click()
            expect_step(page, number, title)
        if title == "Image":
            page.get_by_role("combobox", name="Template").select_option(label="ui-tablet-boot")
        if title == "Offering":
            page.get_by_label("Service offering").select_option(label="ui-tablet")
        assert_fits(page)
        assert_accessible(page)
    screenshot(page, "deploy-wizard-tablet")

    with libvirt_or_skip():
        # A VM created, not started: the list and detail need one, not a running guest.
        vm = api.deployVirtualMachine(
            zoneid=ui.stack.zone_id,
            templateid=template,
            serviceofferingid=api.listServiceOfferings(name="ui-tablet")["serviceoffering"][0][
                "id"
            ],
            name="ui-tablet-vm",
            startvm=False,
        )["virtualmachine"]
        try:
            page.goto(f"{ui.url}#/instances")
            page.get_by_role("link", name="ui-tablet-vm").click()
            heading = page.get_by_role(
                "heading", name=re.compile(r"^Instance ui-tablet-vm"), level=1
            )
            expect(heading).to_contain_text("Stopped")
            assert_fits(page)
            assert_accessible(page)
            page.goto(f"{ui.url}#/instances")
            expect(page.get_by_role("link", name="ui-tablet-vm")).to_be_visible()
            assert_fits(page)
            assert_accessible(page)
            screenshot(page, "instances-tablet")
        finally:
            api.destroyVirtualMachine(id=vm["id"], expunge=True)
