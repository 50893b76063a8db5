"""Template, ISO, OS type and OS category responses from records (pure)."""

from datetime import UTC, datetime, timedelta

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account, Domain
from kvmcloud.server.infrastructure.models import Host, StoragePool, Zone
from kvmcloud.server.templates.download_status import FailedAttempt, with_failure
from kvmcloud.server.templates.models import (
    DownloadState,
    GuestOs,
    GuestOsCategory,
    ImageFormat,
    RefState,
    Template,
    TemplatePoolRef,
)
from kvmcloud.server.templates.records import (
    OsTypeRecord,
    Registration,
    ShownCopy,
    ShownDetail,
    TemplateRecord,
)
from kvmcloud.server.templates.views import (
    listed_template_response,
    os_category_response,
    os_type_response,
    registration_response,
    shown_error,
    template_response,
)

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SHA256 = "a" * 64


def pool_copy(ref: TemplatePoolRef, pool: StoragePool, host: Host | None = None) -> ShownCopy:
    """The copy a list page reads for ``ref`` on ``pool``, its latest attempt on ``host``."""
    columns = (
        getattr(ref, name) for name in ShownCopy._fields[: ShownCopy._fields.index("pool_name")]
    )
    return ShownCopy(
        *columns,
        pool.name,
        pool.uuid,
        pool.data_center_id,
        host.uuid if host else None,
        host.name if host else None,
    )


def record(
    *,
    account_id: int = 7,
    copies: list[ShownCopy] | None = None,
    url: str = "https://example.org/debian.qcow2",
) -> TemplateRecord:
    template = Template(
        id=1,
        uuid="t-1",
        name="debian",
        display_text="Debian 12",
        format=ImageFormat.QCOW2,
        type="USER",
        hypervisor_type="KVM",
        url=url,
        checksum=f"{{SHA-256}}{SHA256}",
        direct_download=True,
        public=True,
        featured=False,
        extractable=False,
        bootable=True,
        requires_hvm=True,
        enable_password=False,
        sshkey_enabled=False,
        dynamically_scalable=False,
        cross_zones=False,
        bits=64,
        template_tag=None,
        guest_os_id=3,
        account_id=account_id,
        size=10 * 1024**3,
        physical_size=0,
        created=CREATED,
        removed=None,
    )
    return TemplateRecord(
        template=template,
        zone=Zone(id=2, uuid="z-1", name="zone1"),
        account=Account(id=7, uuid="a-1", account_name="admin", domain_id=1),
        domain=Domain(id=1, uuid="d-1", name="ROOT", path="/"),
        guest_os=GuestOs(id=3, uuid="os-1", display_name="Debian GNU/Linux 12 (64-bit)"),
        details=[
            ShownDetail(
                template_id=1, name="HTTP_HEADER:Authorization", value="Bearer x", display=True
            ),
            ShownDetail(template_id=1, name="rootDiskController", value="scsi", display=True),
            ShownDetail(template_id=1, name="kvmcloud.metalink", value="true", display=False),
        ],
        copies=copies or [],
    )


def test_template_response() -> None:
    assert template_response(record()) == {
        "id": "t-1",
        "name": "debian",
        "displaytext": "Debian 12",
        "ispublic": True,
        "isfeatured": False,
        "isready": True,
        "crossZones": False,
        "isextractable": False,
        "passwordenabled": False,
        "sshkeyenabled": False,
        "isdynamicallyscalable": False,
        "requireshvm": True,
        "directdownload": True,
        "deployasis": False,
        "bootable": True,
        "format": ImageFormat.QCOW2,
        "hypervisor": "KVM",
        "ostypeid": "os-1",
        "ostypename": "Debian GNU/Linux 12 (64-bit)",
        "templatetype": "USER",
        "status": "Bypassed Secondary Storage",
        "url": "https://example.org/debian.qcow2",
        "size": 10 * 1024**3,
        "checksum": SHA256,
        "zoneid": "z-1",
        "zonename": "zone1",
        "account": "admin",
        "accountid": "a-1",
        "domain": "ROOT",
        "domainid": "d-1",
        "domainpath": "/",
        "created": "2026-01-02T03:04:05+0000",
        "details": {"HTTP_HEADER:Authorization": "******", "rootDiskController": "scsi"},
        "downloaddetails": [],
        "bits": 64,
        "tags": [],
    }


def test_each_copy_in_the_zone_is_a_download_detail_in_order() -> None:
    pool = StoragePool(id=5, uuid="p-1", name="pool1", data_center_id=2)
    copies = [
        pool_copy(
            TemplatePoolRef(
                download_pct=100,
                download_state=DownloadState.DOWNLOADED,
                state=RefState.READY,
                job_id="j-1",
                install_path="/pool1/abc",
                error_str=None,
            ),
            pool,
        ),
        pool_copy(
            TemplatePoolRef(
                download_pct=0,
                download_state=DownloadState.DOWNLOAD_ERROR,
                state=RefState.ALLOCATED,
                job_id=None,
                install_path=None,
                error_str="checksum mismatch",
            ),
            pool,
        ),
    ]
    assert template_response(record(copies=copies))["downloaddetails"] == [
        {
            "datastore": "pool1",
            "datastoreid": "p-1",
            "downloadPercent": 100,
            "downloadState": DownloadState.DOWNLOADED,
            "jobid": "j-1",
            "installpath": "/pool1/abc",
            "failures": [],
        },
        {
            "datastore": "pool1",
            "datastoreid": "p-1",
            "downloadPercent": 0,
            "downloadState": DownloadState.DOWNLOAD_ERROR,
            "errortext": "checksum mismatch",
            "failures": [],
        },
    ]


def copy_at(state: DownloadState, **columns: object) -> ShownCopy:
    ref = TemplatePoolRef(
        download_state=state,
        state=RefState.READY if state == DownloadState.DOWNLOADED else RefState.CREATING,
        download_pct=40,
        **columns,
    )
    host = Host(id=3, uuid="h-1", name="kvm1")
    return pool_copy(ref, StoragePool(id=5, uuid="p-1", name="pool1", data_center_id=2), host)


def details_of(copy: ShownCopy, *, show_hosts: bool = True) -> dict[str, object]:
    (details,) = template_response(record(copies=[copy]), show_hosts=show_hosts)["downloaddetails"]
    return details


def test_a_running_download_shows_its_host_bytes_rate_and_eta() -> None:
    copy = copy_at(
        DownloadState.DOWNLOAD_IN_PROGRESS,
        download_host_id=3,
        download_started=CREATED,
        last_updated=CREATED + timedelta(seconds=10),
        downloaded_bytes=400,
        total_bytes=1000,
        download_attempts=2,
        download_failures=with_failure(None, FailedAttempt("h-0", "kvm0", "HTTP 503")),
    )
    details = details_of(copy)
    assert details["hostid"] == "h-1" and details["hostname"] == "kvm1"
    assert details["downloadstarted"] == "2026-01-02T03:04:05+0000"
    assert (details["downloadedbytes"], details["totalbytes"]) == (400, 1000)
    # 400 bytes in 10 s: 40 B/s; 600 bytes left: 15 s.
    assert (details["downloadrate"], details["eta"]) == (40, 15)
    assert details["attempts"] == 2
    assert details["failures"] == [{"hostid": "h-0", "hostname": "kvm0", "reason": "HTTP 503"}]


def test_a_failed_download_shows_its_attempts_but_no_rate_or_eta() -> None:
    failures = None
    for name in ("kvm0", "kvm1"):
        failures = with_failure(failures, FailedAttempt(None, name, f"no data from {name}"))
    copy = copy_at(
        DownloadState.DOWNLOAD_ERROR,
        download_host_id=3,
        download_started=CREATED,
        last_updated=CREATED + timedelta(seconds=10),
        downloaded_bytes=400,
        total_bytes=1000,
        download_attempts=2,
        download_failures=failures,
    )
    details = details_of(copy)
    assert "downloadrate" not in details and "eta" not in details
    assert details["attempts"] == 2
    assert details["failures"] == [
        {"hostname": "kvm0", "reason": "no data from kvm0"},
        {"hostname": "kvm1", "reason": "no data from kvm1"},
    ]


def test_others_than_root_admins_see_no_host_of_a_copy() -> None:
    failures = with_failure(None, FailedAttempt("h-0", "kvm0", "HTTP 404 from http://x"))
    copy = copy_at(
        DownloadState.DOWNLOAD_ERROR,
        download_host_id=3,
        download_attempts=1,
        download_failures=failures,
        error_str="Template t could not be downloaded to pool pool1 by host kvm0: HTTP 404",
    )
    details = details_of(copy, show_hosts=False)
    assert "hostid" not in details and "hostname" not in details
    assert details["failures"] == [{"reason": "HTTP 404 from http://x"}]
    assert details["errortext"] == "HTTP 404 from http://x"
    assert details_of(copy)["errortext"].startswith("Template t could not")  # type: ignore[union-attr]


def test_a_failure_no_host_was_asked_for_names_no_host() -> None:
    failures = with_failure(None, FailedAttempt(None, "", "no host of cluster c1 is Up"))
    copy = copy_at(DownloadState.DOWNLOAD_ERROR, download_failures=failures)
    assert details_of(copy)["failures"] == [{"reason": "no host of cluster c1 is Up"}]


def test_the_shown_error_is_the_last_attempts_reason_when_there_were_attempts() -> None:
    first, last = FailedAttempt("h-0", "kvm0", "HTTP 503"), FailedAttempt("h-1", "kvm1", "EOF")
    assert shown_error("by host kvm0 and kvm1", [first, last]) == "EOF"
    assert shown_error("the job ended", []) == "the job ended"
    assert shown_error(None, [first]) is None


def test_a_downloaded_copy_shows_its_average_rate_and_no_eta() -> None:
    copy = copy_at(
        DownloadState.DOWNLOADED,
        download_host_id=3,
        download_started=CREATED,
        last_updated=CREATED + timedelta(seconds=4),
        downloaded_bytes=1000,
        total_bytes=1000,
        download_attempts=1,
    )
    details = details_of(copy)
    assert (details["downloadedbytes"], details["totalbytes"]) == (1000, 1000)
    assert details["downloadrate"] == 250 and "eta" not in details
    assert details["hostname"] == "kvm1" and details["failures"] == []


def caller(account_id: int, *, is_admin: bool) -> Caller:
    return Caller(
        user_id=1,
        account_id=account_id,
        account_uuid="a",
        account_name="a",
        domain_uuid="d-1",
        is_admin=is_admin,
    )


PRESIGNED = "https://bob:pw@s3.test/k.qcow2?X-Amz-Signature=sig&X-Amz-Date=d"


def test_a_listed_template_shows_its_url_query_to_its_owner_and_admins_only() -> None:
    presigned = record(account_id=7, url=PRESIGNED)
    mine = listed_template_response(presigned, caller(7, is_admin=False))
    admin = listed_template_response(presigned, caller(8, is_admin=True))
    other = listed_template_response(presigned, caller(8, is_admin=False))
    as_registered = "https://bob:***@s3.test/k.qcow2?X-Amz-Signature=sig&X-Amz-Date=d"
    assert mine["url"] == admin["url"] == as_registered
    assert "status" in mine and "status" in admin
    assert other["url"] == "https://bob:***@s3.test/k.qcow2?X-Amz-Signature=***&X-Amz-Date=***"
    assert "status" not in other


def test_a_registered_or_prepared_template_masks_the_password_only() -> None:
    (item,) = registration_response(Registration([record(url=PRESIGNED)], []))
    assert item["url"] == "https://bob:***@s3.test/k.qcow2?X-Amz-Signature=sig&X-Amz-Date=d"


def test_a_metalink_registration_says_how_each_mirror_checked_out() -> None:
    mirrors = [
        msg.MirrorCheck(url="https://u:p@a/x?sig=s", ok=True),
        msg.MirrorCheck(
            url="https://b/x",
            ok=False,
            error=msg.ErrorInfo(code=ErrorCode.TIMEOUT, message="timed out"),
        ),
    ]
    (item,) = registration_response(Registration([record()], mirrors))
    assert item["mirrors"] == [
        {"url": "https://u:***@a/x?sig=***", "ok": True},
        {"url": "https://b/x", "ok": False, "errortext": "timed out"},
    ]
    (plain,) = registration_response(Registration([record()], []))
    assert "mirrors" not in plain


def test_os_type_and_category_responses() -> None:
    category = GuestOsCategory(uuid="c-1", name="Debian")
    guest_os = GuestOs(uuid="os-1", display_name="Debian 12", is_user_defined=False)
    assert os_type_response(OsTypeRecord(guest_os, category)) == {
        "id": "os-1",
        "description": "Debian 12",
        "name": "Debian 12",
        "oscategoryid": "c-1",
        "oscategoryname": "Debian",
        "isuserdefined": "false",
        "fordisplay": True,
    }
    assert os_category_response(category) == {"id": "c-1", "name": "Debian"}
