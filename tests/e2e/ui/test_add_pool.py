"""Adding primary storage from the UI: a SharedMountPoint pool, field checks, RBD's URL."""

import base64
import json
import re
from urllib.parse import parse_qs, quote

import pytest
from playwright.sync_api import Page, Request, Route, expect

from kvmcloud.server.infrastructure.rbd_urls import parse_rbd_url
from tests.e2e.ui.conftest import Ui
from tests.support.browser import assert_accessible, login

pytestmark = pytest.mark.e2e


def _open_form(ui: Ui, page: Page) -> None:
    login(page, ui.url, ui.username, ui.password)
    page.goto(f"{ui.url}#/storage")
    page.get_by_role("main").get_by_role("link", name="Add primary storage").click()
    expect(page.get_by_role("heading", name="Add primary storage", level=1)).to_be_visible()


def _expect_invalid(page: Page, label: str, message: str | re.Pattern[str]) -> None:
    """The control is marked invalid and described by the shown message."""
    control = page.get_by_label(label, exact=True)
    expect(control).to_have_attribute("aria-invalid", "true")
    expect(control).to_have_accessible_description(
        message if isinstance(message, re.Pattern) else re.compile(re.escape(message))
    )


def test_admin_adds_a_shared_mount_point_pool(ui: Ui, page: Page) -> None:
    path = ui.stack.workdir / "ui-added"
    path.mkdir()
    _open_form(ui, page)
    assert_accessible(page)

    # Nothing given: the name is asked for, and the path, without a call to the server.
    page.get_by_label("Protocol").select_option("SharedMountPoint")
    page.get_by_role("button", name="Add primary storage").click()
    _expect_invalid(page, "Name", "Give the pool a name")
    _expect_invalid(page, "Path", "Give the path")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    page.get_by_label("Name", exact=True).fill("ui-added")
    page.get_by_label("Path").fill("relative/dir")
    page.get_by_role("button", name="Add primary storage").click()
    _expect_invalid(page, "Path", "The path must be absolute (start with /)")
    assert_accessible(page)

    page.get_by_label("Path").fill(str(path))
    page.get_by_label("Storage tags").fill("uitag")
    page.get_by_role("button", name="Add primary storage").click()

    expect(page.get_by_role("heading", name="Primary storage ui-added")).to_be_visible()
    (pool,) = ui.stack.api.listStoragePools(name="ui-added")["storagepool"]
    assert page.url.endswith(f"#/storage/{pool['id']}")
    assert pool["type"] == "SharedMountPoint"
    assert pool["path"] == str(path)
    assert pool["scope"] == "CLUSTER"
    assert pool["tags"] == "uitag"

    page.goto(f"{ui.url}#/storage")
    row = page.get_by_role("row").filter(has_text="ui-added")
    expect(row).to_contain_text("Up")
    expect(row).to_contain_text("SharedMountPoint")


def test_the_servers_refusal_is_shown_at_the_field_it_names(ui: Ui, page: Page) -> None:
    path = ui.stack.workdir / "ui-twice"
    path.mkdir()
    api = ui.stack.api
    (zone,) = api.listZones()["zone"]
    (cluster,) = api.listClusters()["cluster"]
    api.createStoragePool(
        name="ui-twice",
        zoneid=zone["id"],
        clusterid=cluster["id"],
        url=f"SharedMountPoint://localhost{path}",
    )
    _open_form(ui, page)
    page.get_by_label("Name", exact=True).fill("ui-twice")
    page.get_by_label("Protocol").select_option("SharedMountPoint")
    page.get_by_label("Path").fill(str(path))
    page.get_by_role("button", name="Add primary storage").click()

    _expect_invalid(page, "Name", re.compile("named 'ui-twice' already exists"))
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    assert_accessible(page)

    # A URL the server refuses (a space in the export's path): its parts point at the message.
    page.get_by_label("Name", exact=True).fill("ui-nfs")
    page.get_by_label("Protocol").select_option("nfs")
    page.get_by_label("Server").fill("127.0.0.1")
    page.get_by_label("Path").fill("/export/bad dir")
    page.get_by_role("button", name="Add primary storage").click()
    refusal = re.compile("must carry an absolute export path")
    for label in ("Server", "Path"):
        _expect_invalid(page, label, refusal)
    expect(page.get_by_label("Name", exact=True)).not_to_have_attribute("aria-invalid", "true")
    assert not api.listStoragePools(name="ui-nfs").get("storagepool")
    assert_accessible(page)


def test_rbd_url_percent_encodes_the_key_which_is_never_shown(ui: Ui, page: Page) -> None:
    # A cephx key's base64 holds / + and =, which the URL must carry percent-encoded.
    secret = base64.b64encode(bytes([0xFB, 0xEF, 0xFF]) * 8 + b"ky").decode()
    assert {"+", "/", "="} <= set(secret)
    sent: list[dict[str, list[str]]] = []

    def answer(route: Route, request: Request) -> None:
        params = parse_qs(request.post_data or "")
        if params.get("command") != ["createStoragePool"]:
            route.continue_()
            return
        sent.append(params)
        # No Ceph here: the server's refusal of an unreachable cluster, key masked as it does.
        route.fulfill(
            status=530,
            content_type="application/json",
            body=json.dumps(
                {
                    "createstoragepoolresponse": {
                        "errorcode": 530,
                        "errortext": "Pool path cloudstack is not usable on host h1: "
                        "rbd://cloudstack:***@127.0.0.1:6789/cloudstack: connection refused",
                    }
                }
            ),
        )

    _open_form(ui, page)
    page.route("**/client/api", answer)
    page.get_by_label("Name", exact=True).fill("ui-rbd")
    page.get_by_label("Protocol").select_option("RBD")
    page.get_by_label("Scope").select_option("zone")
    expect(page.get_by_label("Cluster")).to_have_count(0)
    page.get_by_label("Monitor").fill("127.0.0.1:6789:1")
    page.get_by_label("Ceph pool").fill("cloudstack")
    page.get_by_label("Cephx user").fill("cloudstack")
    key = page.get_by_label("Secret")
    expect(key).to_have_attribute("type", "password")
    expect(key).to_have_attribute("autocomplete", "off")
    key.fill("not base64!")
    page.get_by_role("button", name="Add primary storage").click()
    _expect_invalid(page, "Monitor", "Give the monitor as host or host:port (port 1-65535)")
    _expect_invalid(page, "Secret", "The key is base64, as 'ceph auth get-key' prints it")
    assert not sent

    page.get_by_label("Monitor").fill("127.0.0.1:6789")
    key.fill(secret)
    page.get_by_label("Storage tags").fill("ceph,fast")
    page.get_by_role("button", name="Add primary storage").click()

    alert = page.get_by_role("alert").filter(has_text="is not usable on host h1")
    expect(alert).to_be_visible()
    (params,) = sent
    url = f"rbd://cloudstack:{quote(secret, safe='')}@127.0.0.1:6789/cloudstack"
    assert params["url"] == [url]
    assert params["scope"] == ["zone"]
    assert params["hypervisor"] == ["KVM"]
    assert params["tags"] == ["ceph,fast"]
    assert "clusterid" not in params
    # The server reads the key back from the UI's URL as it was typed.
    assert parse_rbd_url(url).secret == secret
    html = page.content()
    assert secret not in html
    assert quote(secret, safe="") not in html
    assert secret not in page.inner_text("body")
    assert_accessible(page)
