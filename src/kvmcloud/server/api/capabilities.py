"""listCapabilities: what this cloud offers, in CloudStack's CapabilitiesResponse fields."""

from dataclasses import dataclass
from typing import Any

from kvmcloud import __version__
from kvmcloud.server.api.params import MAX_GIB
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ObjectResult

commands = CommandSet()

# The CloudStack release whose API kvmcloud follows; the UI enables features by it.
CLOUDSTACK_API_VERSION = "4.19.0.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListCapabilitiesParams:
    """listCapabilities takes no parameters."""


def capabilities() -> dict[str, Any]:
    """The capabilities kvmcloud has: every value true to what it does (see docs/accounts.md)."""
    return {
        "cloudstackversion": CLOUDSTACK_API_VERSION,
        "kvmcloudversion": __version__,
        "securitygroupsenabled": False,
        # Roles are rows with rules (createRole, createRolePermission), as CloudStack's
        # dynamic roles.
        "dynamicrolesenabled": True,
        # Users may register public templates (CloudStack's allow.public.user.templates).
        "userpublictemplateenabled": True,
        # A String in CloudStack's response, unlike its neighbours.
        "supportELB": "false",
        "projectinviterequired": False,
        "allowusercreateprojects": False,
        # No custom-size offerings: the bounds of disksize and rootdisksize (GB).
        "customdiskofferingminsize": 1,
        "customdiskofferingmaxsize": MAX_GIB,
        "regionsecondaryenabled": False,
        "kvmsnapshotenabled": False,
        # kvmcloud has no API rate limit: 0 means none.
        "apilimitinterval": 0,
        "apilimitmax": 0,
        # Users list their Destroyed VMs; expunging and recovering are not in the User role.
        "allowuserviewdestroyedvm": True,
        "allowuserexpungerecovervm": False,
        "allowuserexpungerecovervolume": False,
        "allowuserviewalldomainaccounts": False,
        "kubernetesserviceenabled": False,
        "kubernetesclusterexperimentalfeaturesenabled": False,
    }


@commands.command(
    "listCapabilities",
    ListCapabilitiesParams,
    description="Lists capabilities",
    response_key="capability",
)
def list_capabilities(ctx: ApiContext, params: ListCapabilitiesParams) -> ObjectResult:
    """Answer the capabilities; the same for every caller today."""
    return ObjectResult("capability", capabilities())
