"""listRegions: the one region, 1 "Local"."""

from dataclasses import dataclass

from kvmcloud.server.api.params import ListParams, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult
from kvmcloud.server.regions import service
from kvmcloud.server.regions.views import (
    LOCAL_REGION_ID,
    LOCAL_REGION_NAME,
    REGION,
    local_region_response,
)

commands = CommandSet()
REGION_KEY = "region"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRegionsParams(ListParams):
    """Parameters of listRegions."""

    id: int | None = param("List Region by region ID.", default=None)
    name: str | None = param("List Region by region name.", default=None)


@commands.command(
    "listRegions",
    ListRegionsParams,
    description="Lists Regions",
    response_key=REGION_KEY,
    response=REGION,
)
def list_regions(ctx: ApiContext, params: ListRegionsParams) -> ListResult:
    """List the regions: region 1, "Local", unless the filters leave it out."""
    window = service.region_window(ctx.db, params)
    matches = (
        (params.id is None or params.id == LOCAL_REGION_ID)
        and (params.name is None or params.name == LOCAL_REGION_NAME)
        and (params.keyword is None or params.keyword.lower() in LOCAL_REGION_NAME.lower())
    )
    items = [local_region_response(ctx.settings)] if matches else []
    end = None if window.limit is None else window.offset + window.limit
    return ListResult(REGION_KEY, items[window.offset : end], len(items))
