from datetime import UTC, datetime

from kvmcloud.server.certificates.models import CertificateHostStatus, DirectDownloadCertificate
from kvmcloud.server.certificates.records import CertificateRecord, HostState
from kvmcloud.server.certificates.views import (
    certificate_response,
    host_status_response,
    host_status_responses,
)
from kvmcloud.server.infrastructure.models import Zone

ZONE = Zone(id=1, uuid="z-uuid", name="zone1")
CERTIFICATE = DirectDownloadCertificate(
    uuid="cert-uuid",
    alias="origin",
    zone_id=1,
    version=3,
    subject="CN=origin",
    issuer="CN=ca",
    serial="42",
    hypervisor_type="KVM",
    not_before=datetime(2024, 1, 1, tzinfo=UTC),
    not_after=datetime(2025, 1, 1, tzinfo=UTC),
)
UPLOADED = HostState("h1", "kvm1", CertificateHostStatus.UPLOADED, None)
FAILED = HostState("h2", "kvm2", CertificateHostStatus.FAILED, "host is Down")


def test_host_status_leaves_out_absent_details():
    assert host_status_response(UPLOADED) == {
        "hostid": "h1",
        "hostname": "kvm1",
        "status": "UPLOADED",
    }


def test_host_statuses_keep_their_order_and_reasons():
    items = host_status_responses([FAILED, UPLOADED])

    assert [i["hostid"] for i in items] == ["h2", "h1"]
    assert items[0]["details"] == "host is Down"


def test_certificate_shows_version_as_text_and_its_zone():
    item = certificate_response(CertificateRecord(certificate=CERTIFICATE, zone=ZONE, hosts=None))

    assert item["version"] == "3"
    assert (item["zoneid"], item["zonename"]) == ("z-uuid", "zone1")
    assert "hostsmap" not in item


def test_certificate_hostsmap_is_shown_even_when_empty():
    item = certificate_response(CertificateRecord(certificate=CERTIFICATE, zone=ZONE, hosts=[]))

    assert item["hostsmap"] == []


def test_certificate_hostsmap_lists_each_host():
    record = CertificateRecord(certificate=CERTIFICATE, zone=ZONE, hosts=[UPLOADED, FAILED])

    assert [h["status"] for h in certificate_response(record)["hostsmap"]] == [
        "UPLOADED",
        "FAILED",
    ]
