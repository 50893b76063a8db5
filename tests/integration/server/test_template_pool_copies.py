"""Listing images by pool (storageid), hosts shown to root admins only, unreachable pools."""

from typing import Any

from sqlalchemy import select

from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.infrastructure.models import Host
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness
from tests.integration.server.test_download_retries import failing, register


def second_pool(server: ServerHarness, cloud: Cloud) -> str:
    return server.ok(
        "createStoragePool",
        name="pool2",
        zoneid=cloud.zone_id,
        clusterid=cloud.cluster_id,
        url="SharedMountPoint://localhost/var/lib/kvmcloud/pool2",
    )["storagepool"]["id"]


def register_iso(server: ServerHarness, cloud: Cloud, name: str) -> str:
    return server.ok(
        "registerIso",
        name=name,
        url=f"http://127.0.0.1:9/{name}.iso",
        zoneid=cloud.zone_id,
        directdownload="true",
    )["iso"][0]["id"]


def prepare_on(server: ServerHarness, cloud: Cloud, image_id: str, pool_id: str) -> None:
    server.ok("prepareTemplate", templateid=image_id, zoneid=cloud.zone_id, storageid=pool_id)
    server.run_jobs()


def copies(server: ServerHarness, command: str, key: str, **params: Any) -> dict[str, list[str]]:
    """Each listed image's id → the ids of the pools its downloaddetails show."""
    listed = server.ok(command, **params).get(key, [])
    return {i["id"]: [c["datastoreid"] for c in i.get("downloaddetails", [])] for i in listed}


def test_storageid_lists_the_images_with_a_copy_on_that_pool_and_only_that_copy(
    server: ServerHarness, cloud: Cloud
) -> None:
    pool2 = second_pool(server, cloud)
    on_both, on_one, on_none = (register(server, cloud) for _ in range(3))
    prepare_on(server, cloud, on_both, cloud.pool_id)
    prepare_on(server, cloud, on_both, pool2)
    prepare_on(server, cloud, on_one, cloud.pool_id)
    iso = register_iso(server, cloud, "boot")
    prepare_on(server, cloud, iso, pool2)

    everything = copies(server, "listTemplates", "template", templatefilter="all")
    assert everything[on_both] == [cloud.pool_id, pool2] and everything[on_none] == []

    on_pool1 = copies(
        server, "listTemplates", "template", templatefilter="all", storageid=cloud.pool_id
    )
    assert on_pool1 == {on_both: [cloud.pool_id], on_one: [cloud.pool_id]}
    on_pool2 = copies(server, "listTemplates", "template", templatefilter="all", storageid=pool2)
    assert on_pool2 == {on_both: [pool2]}
    # Paged and counted on the server.
    page = server.ok(
        "listTemplates", templatefilter="all", storageid=cloud.pool_id, page=2, pagesize=1
    )
    assert page["count"] == 2 and len(page["template"]) == 1

    assert copies(server, "listIsos", "iso", isofilter="all", storageid=pool2) == {iso: [pool2]}
    assert copies(server, "listIsos", "iso", isofilter="all", storageid=cloud.pool_id) == {}


def test_an_unknown_storageid_is_refused_as_cloudstack_refuses_unknown_ids(
    server: ServerHarness, cloud: Cloud
) -> None:
    unknown = "6f3e3c1e-0000-4000-8000-000000000000"
    for command, filters in (("listTemplates", "templatefilter"), ("listIsos", "isofilter")):
        status, body = server.call(command, **{filters: "all"}, storageid=unknown)
        assert status == 431, body
        assert "due to invalid value" in body["errortext"] and "storageid" in body["errortext"]


def test_list_apis_shows_the_storageid_filter(server: ServerHarness) -> None:
    for command in ("listTemplates", "listIsos"):
        (api,) = server.ok("listApis", name=command)["api"]
        (storageid,) = [p for p in api["params"] if p["name"] == "storageid"]
        assert storageid["description"].startswith("kvmcloud:")
        assert storageid["required"] is False


def test_hosts_of_a_copy_are_shown_to_root_admins_only(server: ServerHarness, cloud: Cloud) -> None:
    agent = server.agents.agents[AGENT_URL]
    template_id = server.ok(
        "registerTemplate",
        name="shared",
        url="http://127.0.0.1:9/shared.qcow2",
        format="QCOW2",
        hypervisor="KVM",
        zoneid=cloud.zone_id,
        directdownload="true",
        ispublic="true",
    )["template"][0]["id"]
    agent.download = failing(ErrorCode.SOURCE_NOT_FOUND, "HTTP 404 Not Found from http://x")
    prepare_on(server, cloud, template_id, cloud.pool_id)
    user = server.user("alice")

    def copy_seen(keys: Any) -> dict[str, Any]:
        status, body = server.call("listTemplates", keys, templatefilter="executable")
        assert status == 200, body
        (template,) = [t for t in body["template"] if t["id"] == template_id]
        (copy,) = template["downloaddetails"]
        return copy

    admin_copy = copy_seen(None)
    assert admin_copy["hostname"] == "kvm1" and admin_copy["hostid"] == cloud.host_id
    assert admin_copy["failures"][0]["hostname"] == "kvm1"
    assert "kvm1" in admin_copy["errortext"]

    user_copy = copy_seen(user)
    assert user_copy["downloadState"] == "DOWNLOAD_ERROR"
    assert "hostid" not in user_copy and "hostname" not in user_copy
    (failure,) = user_copy["failures"]
    assert set(failure) == {"reason"} and "404" in failure["reason"]
    assert "404" in user_copy["errortext"] and "kvm1" not in str(user_copy)
    assert cloud.host_id not in str(user_copy)

    # Once downloaded, the host that did it stays the admins' to know.
    agent.download = None
    prepare_on(server, cloud, template_id, cloud.pool_id)
    assert copy_seen(None)["hostname"] == "kvm1"
    ready = copy_seen(user)
    assert ready["downloadState"] == "DOWNLOADED" and "hostname" not in ready


def test_a_pool_no_up_host_reaches_shows_why_nothing_was_downloaded(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id = register(server, cloud)
    with server.db.transaction() as session:
        session.scalars(select(Host)).one().status = "Disconnected"
    prepare_on(server, cloud, template_id, cloud.pool_id)

    (template,) = server.ok("listTemplates", templatefilter="all", id=template_id)["template"]
    (copy,) = template["downloaddetails"]
    assert copy["downloadState"] == "DOWNLOAD_ERROR"
    assert "no host of cluster c1 is Up" in copy["errortext"]
    (failure,) = copy["failures"]
    assert "hostname" not in failure and "hostid" not in failure
    assert "No Up KVM host can reach pool pool1" in failure["reason"]
    assert "no host of cluster c1 is Up" in failure["reason"]

    # Once the host is back, preparing again downloads the copy and clears the failure.
    with server.db.transaction() as session:
        session.scalars(select(Host)).one().status = "Up"
    prepare_on(server, cloud, template_id, cloud.pool_id)
    (template,) = server.ok("listTemplates", templatefilter="all", id=template_id)["template"]
    (copy,) = template["downloaddetails"]
    assert copy["downloadState"] == "DOWNLOADED" and copy["failures"] == []
