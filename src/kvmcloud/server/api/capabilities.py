"""listCapabilities: what this cloud offers, in CloudStack's CapabilitiesResponse fields."""

from dataclasses import dataclass
from typing import Any

from kvmcloud import __version__
from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.api.params import MAX_GIB
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ObjectResult

commands = CommandSet()

# The CloudStack release whose API kvmcloud follows; the UI enables features by it.
CLOUDSTACK_API_VERSION = "4.19.0.0"

CAPABILITY = ObjectSchema(
    "CapabilitiesResponse",
    (
        out("cloudstackversion", FieldType.STRING, "version of the cloud stack"),
        out("kvmcloudversion", FieldType.STRING, "kvmcloud: the version of kvmcloud answering"),
        out(
            "securitygroupsenabled",
            FieldType.BOOLEAN,
            "true if security groups support is enabled, false otherwise",
        ),
        out(
            "dynamicrolesenabled",
            FieldType.BOOLEAN,
            "true if dynamic role-based api checker is enabled, false otherwise",
        ),
        out(
            "userpublictemplateenabled",
            FieldType.BOOLEAN,
            "true if user and domain admins can set templates to be shared, false otherwise",
        ),
        out(
            "supportELB",
            FieldType.STRING,
            "true if region supports elastic load balancer on basic zones",
        ),
        out(
            "projectinviterequired",
            FieldType.BOOLEAN,
            "If invitation confirmation is required when add account to project",
        ),
        out(
            "allowusercreateprojects",
            FieldType.BOOLEAN,
            "true if regular user is allowed to create projects",
        ),
        out(
            "customdiskofferingminsize",
            FieldType.LONG,
            "minimum size that can be specified when create disk from disk offering with "
            "custom size",
        ),
        out(
            "customdiskofferingmaxsize",
            FieldType.LONG,
            "maximum size that can be specified when create disk from disk offering with "
            "custom size",
        ),
        out(
            "regionsecondaryenabled",
            FieldType.BOOLEAN,
            "true if region wide secondary is enabled, false otherwise",
        ),
        out(
            "kvmsnapshotenabled",
            FieldType.BOOLEAN,
            "true if snapshot is supported for KVM host, false otherwise",
        ),
        out("apilimitinterval", FieldType.INTEGER, "time interval (in seconds) to reset api count"),
        out(
            "apilimitmax",
            FieldType.INTEGER,
            "Max allowed number of api requests within the specified interval",
        ),
        out(
            "allowuserviewdestroyedvm",
            FieldType.BOOLEAN,
            "true if the user is allowed to view destroyed virtualmachines, false otherwise",
        ),
        out(
            "allowuserexpungerecovervm",
            FieldType.BOOLEAN,
            "true if the user can recover and expunge virtualmachines, false otherwise",
        ),
        out(
            "allowuserexpungerecovervolume",
            FieldType.BOOLEAN,
            "true if the user can recover and expunge volumes, false otherwise",
        ),
        out(
            "allowuserviewalldomainaccounts",
            FieldType.BOOLEAN,
            "true if users can see all accounts within the same domain, false otherwise",
        ),
        out(
            "kubernetesserviceenabled",
            FieldType.BOOLEAN,
            "true if Kubernetes Service plugin is enabled, false otherwise",
        ),
        out(
            "kubernetesclusterexperimentalfeaturesenabled",
            FieldType.BOOLEAN,
            "true if experimental features for Kubernetes cluster such as Docker private "
            "registry are enabled, false otherwise",
        ),
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListCapabilitiesParams:
    """listCapabilities takes no parameters."""


def capabilities() -> dict[str, Any]:
    """The capabilities kvmcloud has: every value true to what it does (see docs/accounts.md)."""
    return CAPABILITY.render(
        {
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
    )


@commands.command(
    "listCapabilities",
    ListCapabilitiesParams,
    description="Lists capabilities",
    response_key="capability",
    response=CAPABILITY,
)
def list_capabilities(ctx: ApiContext, params: ListCapabilitiesParams) -> ObjectResult:
    """Answer the capabilities; the same for every caller today."""
    return ObjectResult("capability", capabilities())
