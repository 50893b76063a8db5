"""The one region a kvmcloud installation is, as listRegions shows it (pure)."""

from typing import Any

from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.settings import ServerSettings

# CloudStack creates region 1 "Local" at installation; it is the only one without
# addRegion, which kvmcloud does not have.
LOCAL_REGION_ID = 1
LOCAL_REGION_NAME = "Local"

REGION = ObjectSchema(
    "RegionResponse",
    (
        out("id", FieldType.INTEGER, "The ID of the region"),
        out("name", FieldType.STRING, "The name of the region"),
        out("endpoint", FieldType.STRING, "The end point of the region"),
        out(
            "gslbserviceenabled",
            FieldType.BOOLEAN,
            "True if GSLB service is enabled in the region, false otherwise",
        ),
        out(
            "portableipserviceenabled",
            FieldType.BOOLEAN,
            "True if portable IP service is enabled in the region, false otherwise",
        ),
    ),
)


def region_endpoint(settings: ServerSettings) -> str:
    """The API endpoint of this region: the public URL if set, else localhost (CloudStack's)."""
    base = settings.public_url.rstrip("/") if settings.public_url else None
    return f"{base}/client/" if base else f"http://localhost:{settings.listen_port}/client/"


def local_region_response(settings: ServerSettings) -> dict[str, Any]:
    """Region 1: no global server load balancing, no portable IPs (kvmcloud has neither)."""
    return REGION.render(
        {
            "id": LOCAL_REGION_ID,
            "name": LOCAL_REGION_NAME,
            "endpoint": region_endpoint(settings),
            "gslbserviceenabled": False,
            "portableipserviceenabled": False,
        }
    )
