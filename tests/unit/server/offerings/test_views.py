from datetime import UTC, datetime

from kvmcloud.server.offerings.models import DiskOffering, ServiceOffering
from kvmcloud.server.offerings.views import disk_offering_response, offering_response

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_service_offering_response():
    offering = ServiceOffering(
        uuid="so-1",
        name="small",
        display_text="Small",
        cpu=1,
        speed=1000,
        ram_size=512,
        storage_type="shared",
        tags="ssd,fast",
        host_tags="gpu",
        ha_enabled=False,
        limit_cpu_use=True,
        created=CREATED,
    )
    assert offering_response(offering) == {
        "id": "so-1",
        "name": "small",
        "displaytext": "Small",
        "cpunumber": 1,
        "cpuspeed": 1000,
        "memory": 512,
        "storagetype": "shared",
        "storagetags": "ssd,fast",
        "hosttags": "gpu",
        "offerha": False,
        "limitcpuuse": True,
        "isvolatile": False,
        "iscustomized": False,
        "issystem": False,
        "defaultuse": False,
        "created": "2026-01-02T03:04:05+0000",
    }


def test_disk_offering_response_gives_the_size_in_whole_gib():
    offering = DiskOffering(
        uuid="do-1",
        name="data",
        display_text="Data",
        disk_size=5 * 1024**3,
        storage_type="local",
        tags="ssd",
        created=CREATED,
    )
    assert disk_offering_response(offering) == {
        "id": "do-1",
        "name": "data",
        "displaytext": "Data",
        "disksize": 5,
        "storagetype": "local",
        "tags": "ssd",
        "iscustomized": False,
        "created": "2026-01-02T03:04:05+0000",
    }
