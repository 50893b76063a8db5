"""Which role types may call each API command, and how a role's rules decide (pure).

The catalog spells commands as CloudStack does, away from the API edge: it is the data
CloudStack keeps in its ``role_permissions`` rows and ``@APICommand(authorized=…)``
annotations, and the use cases that check for privilege escalation read it too.

CloudStack's defaults are the union of two sources, and so is the catalog:

- the rows ``setup/db/db/create-default-role-api-mappings.sql`` gives the default Resource
  Admin, Domain Admin and User roles (every API of CloudStack 4.9);
- the ``authorized`` role types of newer commands' annotations (``getUserKeys``,
  ``listRoles``, ``createDomain``/``deleteDomain`` for domain admins, the role and
  certificate commands). A command in neither is for the Admin type only.

The default Root Admin role may call everything, whatever the catalog says.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kvmcloud.server.accounts.models import Permission, RoleType

ADMIN = RoleType.ADMIN
RESOURCE_ADMIN = RoleType.RESOURCE_ADMIN
DOMAIN_ADMIN = RoleType.DOMAIN_ADMIN
USER = RoleType.USER

_EVERYONE = frozenset(RoleType)
_ADMINS = frozenset({ADMIN, RESOURCE_ADMIN, DOMAIN_ADMIN})
_RESOURCE = frozenset({ADMIN, RESOURCE_ADMIN})
_DOMAIN = frozenset({ADMIN, DOMAIN_ADMIN})
_ROOT = frozenset({ADMIN})

# Every command kvmcloud registers (tests/unit/server/accounts/test_permissions.py checks
# that none is missing). login, logout and the pre-login lists are answered before any
# role is known and are not here.
DEFAULT_PERMISSIONS: Mapping[str, frozenset[RoleType]] = {
    # discovery, capabilities, jobs
    "listApis": _EVERYONE,
    "listCapabilities": _EVERYONE,
    "queryAsyncJobResult": _EVERYONE,
    "listAsyncJobs": _EVERYONE,
    # domains: create and delete also for domain admins (4.18 annotations), not rename
    "createDomain": _DOMAIN,
    "updateDomain": _ROOT,
    "deleteDomain": _DOMAIN,
    "listDomains": _ADMINS,
    "listDomainChildren": _ADMINS,
    # accounts and users
    "createAccount": _ADMINS,
    "listAccounts": _EVERYONE,
    "updateAccount": _ADMINS,
    "disableAccount": _ADMINS,
    "enableAccount": _ADMINS,
    "lockAccount": _ADMINS,
    "deleteAccount": _ADMINS,
    "createUser": _ADMINS,
    "listUsers": _EVERYONE,
    "updateUser": _EVERYONE,
    "disableUser": _ADMINS,
    "enableUser": _ADMINS,
    "deleteUser": _ADMINS,
    "registerUserKeys": _EVERYONE,
    "getUserKeys": _EVERYONE,
    # roles
    "listRoles": _ADMINS,
    "createRole": _ROOT,
    "updateRole": _ROOT,
    "deleteRole": _ROOT,
    "createRolePermission": _ROOT,
    "listRolePermissions": _ROOT,
    "updateRolePermission": _ROOT,
    "deleteRolePermission": _ROOT,
    # infrastructure
    "createZone": _ROOT,
    "listZones": _EVERYONE,
    "createPod": _ROOT,
    "listPods": _RESOURCE,
    "addCluster": _ROOT,
    "listClusters": _RESOURCE,
    "addHost": _RESOURCE,
    "listHosts": _RESOURCE,
    "updateHost": _ROOT,
    "createStoragePool": _ROOT,
    "listStoragePools": _RESOURCE,
    "updateStoragePool": _ROOT,
    "deleteStoragePool": _ROOT,
    "enableStorageMaintenance": _ROOT,
    "cancelStorageMaintenance": _ROOT,
    "listHypervisors": _EVERYONE,
    "listManagementServers": _ROOT,
    # metrics (CloudStack's metrics plugin)
    "listVirtualMachinesMetrics": _EVERYONE,
    "listHostsMetrics": _ROOT,
    "listStoragePoolsMetrics": _ROOT,
    "listZonesMetrics": _ROOT,
    "listClustersMetrics": _ROOT,
    "listManagementServersMetrics": _ROOT,
    "listInfrastructure": _ROOT,
    # templates and ISOs
    "registerTemplate": _EVERYONE,
    "listTemplates": _EVERYONE,
    "deleteTemplate": _EVERYONE,
    "prepareTemplate": _ROOT,
    "registerIso": _EVERYONE,
    "listIsos": _EVERYONE,
    "deleteIso": _EVERYONE,
    "updateTemplate": _EVERYONE,
    "updateIso": _EVERYONE,
    "updateTemplatePermissions": _EVERYONE,
    "updateIsoPermissions": _EVERYONE,
    "listTemplatePermissions": _EVERYONE,
    "listIsoPermissions": _EVERYONE,
    "copyTemplate": _EVERYONE,
    "copyIso": _EVERYONE,
    "extractTemplate": _EVERYONE,
    "extractIso": _EVERYONE,
    "listOsTypes": _EVERYONE,
    "listOsCategories": _EVERYONE,
    # offerings and configuration
    "createServiceOffering": _ROOT,
    "listServiceOfferings": _EVERYONE,
    "updateServiceOffering": _ROOT,
    "deleteServiceOffering": _ROOT,
    "createDiskOffering": _ROOT,
    "listDiskOfferings": _EVERYONE,
    "updateDiskOffering": _ROOT,
    "deleteDiskOffering": _ROOT,
    # network offerings, physical networks, guest networks (4.9's commands.properties)
    "createNetworkOffering": _ROOT,
    "listNetworkOfferings": _EVERYONE,
    "updateNetworkOffering": _ROOT,
    "deleteNetworkOffering": _ROOT,
    "listPhysicalNetworks": _ROOT,
    "listTrafficTypes": _ROOT,
    "listNetworkServiceProviders": _ROOT,
    "createNetwork": _EVERYONE,
    "listNetworks": _EVERYONE,
    "updateNetwork": _EVERYONE,
    "deleteNetwork": _EVERYONE,
    "listConfigurations": _ROOT,
    "updateConfiguration": _ROOT,
    # VMs and volumes
    "deployVirtualMachine": _EVERYONE,
    "listVirtualMachines": _EVERYONE,
    "startVirtualMachine": _EVERYONE,
    "stopVirtualMachine": _EVERYONE,
    "rebootVirtualMachine": _EVERYONE,
    "getVirtualMachineConsoleLog": _EVERYONE,
    "destroyVirtualMachine": _EVERYONE,
    "expungeVirtualMachine": _ADMINS,
    "recoverVirtualMachine": _ADMINS,
    "attachIso": _EVERYONE,
    "detachIso": _EVERYONE,
    "listVolumes": _EVERYONE,
    "listNics": _EVERYONE,
    # direct-download certificates
    "uploadTemplateDirectDownloadCertificate": _ROOT,
    "revokeTemplateDirectDownloadCertificate": _ROOT,
    "listTemplateDirectDownloadCertificates": _ROOT,
    "provisionTemplateDirectDownloadCertificate": _ROOT,
    # events
    "listEvents": _EVERYONE,
    "listEventTypes": _EVERYONE,
    # lists of objects kvmcloud has none of (server/absent/), regions and limits
    "listPublicIpAddresses": _EVERYONE,
    "listPortForwardingRules": _EVERYONE,
    "listIpForwardingRules": _EVERYONE,
    "listRouters": _ADMINS,
    "listSystemVms": _RESOURCE,
    "listSnapshots": _EVERYONE,
    "listVlanIpRanges": _ROOT,
    "listVPCs": _EVERYONE,
    "listLoadBalancerRules": _EVERYONE,
    "listFirewallRules": _EVERYONE,
    "listRegions": _EVERYONE,
    "listResourceLimits": _EVERYONE,
}

# CloudStack's Rule: API names and the * wildcard only.
_RULE = re.compile(r"[A-Za-z0-9*]+")


@dataclass(frozen=True, slots=True)
class RuleEntry:
    """One rule of a role: a command name or wildcard, and whether it allows or denies."""

    rule: str
    permission: Permission


@dataclass(frozen=True, slots=True)
class Grant:
    """What an account's role lets it call: the role's type and a custom role's rules.

    ``root`` is the default Root Admin role, which may call every command. Default roles
    have no rules: the catalog decides for them.
    """

    role_type: RoleType
    rules: tuple[RuleEntry, ...] = ()
    root: bool = False


def is_valid_rule(rule: str) -> bool:
    """Whether ``rule`` is an API name or a wildcard such as ``list*`` (letters, digits, *)."""
    return _RULE.fullmatch(rule) is not None


def rule_matches(rule: str, command: str) -> bool:
    """Whether ``rule`` covers ``command``, in any case; ``*`` stands for any letters."""
    if not is_valid_rule(rule) or not command:
        return False
    pattern = "[A-Za-z0-9_]*".join(re.escape(part) for part in rule.lower().split("*"))
    return re.fullmatch(pattern, command.lower()) is not None


def allowed_by_default(role_type: RoleType, command: str) -> bool:
    """Whether the catalog lets roles of ``role_type`` call ``command``."""
    return role_type in DEFAULT_PERMISSIONS.get(command, frozenset())


def may_call(grant: Grant, command: str) -> bool:
    """Whether a role may call ``command``: the first matching rule decides, else the catalog.

    As CloudStack's DynamicRoleBasedAPIAccessChecker: rules in their order, the first one
    matching allows or denies; without a match the role type's default applies.
    """
    if grant.root:
        return True
    for entry in grant.rules:
        if rule_matches(entry.rule, command):
            return entry.permission is Permission.ALLOW
    return allowed_by_default(grant.role_type, command)


def escalations(requested: Grant, caller: Grant, commands: Iterable[str]) -> list[str]:
    """The commands ``requested`` may call and ``caller`` may not (CloudStack refuses those)."""
    return [c for c in commands if may_call(requested, c) and not may_call(caller, c)]
