"""Defect 5 (SSRF) end to end: a real server and agent keep sources off local addresses."""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cs import CloudStackApiException

from tests.e2e.conftest import Stack, wait_jobs
from tests.support.egress import ALLOW_SETTING, LOOPBACK
from tests.support.metalink import meta4
from tests.support.origin import Origin

pytestmark = pytest.mark.e2e

REFUSED = "refused by the egress policy"
REDIRECTS = "store.download.follow.redirects"


@contextmanager
def zone_allows(stack: Stack, value: str | None) -> Iterator[None]:
    """Give the zone this allow list (None: none, the default policy), then put LOOPBACK back."""
    params = {"name": ALLOW_SETTING, "zoneid": stack.zone_id}
    if value is not None:
        params["value"] = value
    stack.api.updateConfiguration(**params)
    try:
        yield
    finally:
        stack.api.updateConfiguration(name=ALLOW_SETTING, value=LOOPBACK, zoneid=stack.zone_id)


def register(stack: Stack, name: str, url: str) -> dict[str, Any]:
    template: dict[str, Any] = stack.api.registerTemplate(
        name=name,
        displaytext=name,
        url=url,
        format="QCOW2",
        hypervisor="KVM",
        zoneid=stack.zone_id,
        directdownload=True,
        checksum=f"{{SHA-256}}{stack.image_sha256}",
    )["template"][0]
    return template


def refusal(stack: Stack, name: str, url: str) -> str:
    with pytest.raises(CloudStackApiException) as caught:
        register(stack, name, url)
    error = caught.value.error
    assert error["errorcode"] == 431, error
    assert REFUSED in error["errortext"], error
    return str(error["errortext"])


def image(stack: Stack) -> bytes:
    return (stack.workdir / "images" / "tiny.qcow2").read_bytes()


def requests_seen(origin: Origin, path: str) -> int:
    stats = origin.stats(path, settle_s=0.5)
    return stats.get_requests + stats.head_count


def test_loopback_in_every_spelling_is_refused_by_default(stack: Stack) -> None:
    with Origin(files={"/x.qcow2": image(stack)}) as origin, zone_allows(stack, None):
        for host in ("127.0.0.1", "0x7f.1", "2130706433", "0177.0.0.1", "127.1", "[::1]"):
            text = refusal(stack, f"e2e-ssrf-{host}", origin.url("/x.qcow2", host=host))
            assert "loopback address" in text and "url" in text.lower(), text
        # A name is resolved and refused by the agent, which never connects.
        text = refusal(stack, "e2e-ssrf-localhost", origin.url("/x.qcow2", host="localhost"))
        assert "host localhost resolves to an address that is a loopback address" in text
        assert "127.0.0.1" not in text.split(REFUSED, 1)[1].split("(URL", 1)[0]
        assert requests_seen(origin, "/x.qcow2") == 0
    names = [t["name"] for t in stack.api.listTemplates(templatefilter="all", fetch_list=True)]
    assert not [n for n in names if n.startswith("e2e-ssrf")]


def test_a_redirect_to_a_denied_address_is_refused_at_that_hop(stack: Stack) -> None:
    with (
        Origin(host="127.0.0.2") as allowed,
        Origin(host="127.0.0.3", files={"/x.qcow2": image(stack)}) as denied,
        zone_allows(stack, "127.0.0.2/32"),
    ):
        stack.api.updateConfiguration(name=REDIRECTS, value="true")
        try:
            allowed.redirects["/start.qcow2"] = denied.url("/x.qcow2")
            text = refusal(stack, "e2e-ssrf-redirect", allowed.url("/start.qcow2"))
        finally:
            stack.api.updateConfiguration(name=REDIRECTS, value="false")
        assert "127.0.0.3 is a loopback address" in text, text
        assert requests_seen(denied, "/x.qcow2") == 0
        assert requests_seen(allowed, "/start.qcow2") > 0


def test_a_metalink_mirror_at_a_denied_address_is_skipped(stack: Stack) -> None:
    data = image(stack)
    with (
        Origin(host="127.0.0.2", files={"/x.qcow2": data}) as allowed,
        Origin(host="127.0.0.3", files={"/x.qcow2": data}) as denied,
        zone_allows(stack, "127.0.0.2/32"),
    ):
        allowed.files["/x.meta4"] = meta4(
            [(denied.url("/x.qcow2"), 1), (allowed.url("/x.qcow2"), 2)],
            size=len(data),
            hashes={"sha-256": hashlib.sha256(data).hexdigest()},
        )
        template = register(stack, "e2e-ssrf-metalink", allowed.url("/x.meta4"))
        mirrors = {m["url"]: m for m in template["mirrors"]}
        assert mirrors[allowed.url("/x.qcow2")]["ok"] is True
        refused = mirrors[denied.url("/x.qcow2")]
        assert refused["ok"] is False and REFUSED in refused["errortext"], refused

        details = stack.api.prepareTemplate(
            templateid=template["id"], zoneid=stack.zone_id, storageid=stack.pool_id
        )["template"][0]["downloaddetails"]
        (job,) = wait_jobs(stack.api, [details[0]["jobid"]], timeout_s=90)
        assert job["jobstatus"] == 1, job
        assert requests_seen(denied, "/x.qcow2") == 0
        stack.api.deleteTemplate(id=template["id"])
