"""The default permission catalog and how a role's rules decide, with plain values."""

import pytest

from kvmcloud.server.accounts.models import Permission, RoleType
from kvmcloud.server.accounts.permissions import (
    DEFAULT_PERMISSIONS,
    Grant,
    RuleEntry,
    allowed_by_default,
    escalations,
    is_valid_rule,
    may_call,
    rule_matches,
)
from kvmcloud.server.api.session_auth import SESSION_COMMANDS
from kvmcloud.server.app import build_registry

ADMIN, RESOURCE, DOMAIN, USER = (
    RoleType.ADMIN,
    RoleType.RESOURCE_ADMIN,
    RoleType.DOMAIN_ADMIN,
    RoleType.USER,
)
EVERYONE = {ADMIN, RESOURCE, DOMAIN, USER}
ALLOW, DENY = Permission.ALLOW, Permission.DENY


def test_every_registered_command_has_an_entry() -> None:
    registered = {command.name for command in build_registry().all()}
    missing = sorted(registered - set(DEFAULT_PERMISSIONS))
    assert missing == [], f"add these commands to accounts/permissions.py: {missing}"


def test_the_catalog_names_only_registered_commands() -> None:
    registered = {command.name for command in build_registry().all()}
    assert sorted(set(DEFAULT_PERMISSIONS) - registered) == []


def test_the_admin_type_has_every_command() -> None:
    assert [c for c, types in DEFAULT_PERMISSIONS.items() if ADMIN not in types] == []


@pytest.mark.parametrize(
    ("command", "types"),
    [
        ("listZones", EVERYONE),
        ("listCapabilities", EVERYONE),
        ("listApis", EVERYONE),
        ("getUserKeys", EVERYONE),
        ("createDomain", {ADMIN, DOMAIN}),
        ("deleteDomain", {ADMIN, DOMAIN}),
        ("updateDomain", {ADMIN}),
        ("createAccount", {ADMIN, RESOURCE, DOMAIN}),
        ("listDomains", {ADMIN, RESOURCE, DOMAIN}),
        ("listRoles", {ADMIN, RESOURCE, DOMAIN}),
        ("createRole", {ADMIN}),
        # CloudStack's default Resource Admin role has addHost and listHosts.
        ("addHost", {ADMIN, RESOURCE}),
        ("listHosts", {ADMIN, RESOURCE}),
        ("createZone", {ADMIN}),
        ("recoverVirtualMachine", {ADMIN, RESOURCE, DOMAIN}),
        ("uploadTemplateDirectDownloadCertificate", {ADMIN}),
    ],
)
def test_cloudstack_defaults(command: str, types: set[RoleType]) -> None:
    assert DEFAULT_PERMISSIONS[command] == types


def test_login_and_logout_are_not_role_gated() -> None:
    # They run before any caller is known (api/session_auth.py), so no role decides them.
    assert {"login", "logout"} <= SESSION_COMMANDS
    assert not {"login", "logout"} & set(DEFAULT_PERMISSIONS)


def test_an_unknown_command_is_nobody_s_by_default() -> None:
    assert not allowed_by_default(ADMIN, "attachVolume")
    assert may_call(Grant(ADMIN, root=True), "attachVolume")


@pytest.mark.parametrize(
    ("rule", "command", "matches"),
    [
        ("listZones", "listZones", True),
        ("listzones", "LISTZONES", True),
        ("list*", "listZones", True),
        ("list*", "list", True),
        ("list*", "createZone", False),
        ("*", "addHost", True),
        ("*Zone*", "createZone", True),
        ("*Zone", "listZones", False),
        ("list*s", "listHosts", True),
        ("list*s", "listHost", False),
        ("listZone", "listZones", False),
        ("list.*", "listZones", False),
        ("", "listZones", False),
        ("list*", "", False),
    ],
)
def test_rule_matching(rule: str, command: str, matches: bool) -> None:
    assert rule_matches(rule, command) is matches


@pytest.mark.parametrize(
    ("rule", "valid"),
    [("listZones", True), ("list*", True), ("*", True), ("list Zones", False), ("a.b", False)],
)
def test_rules_are_api_names_and_wildcards(rule: str, valid: bool) -> None:
    assert is_valid_rule(rule) is valid


def test_the_first_matching_rule_wins() -> None:
    grant = Grant(
        USER,
        (
            RuleEntry("listHosts", DENY),
            RuleEntry("list*", ALLOW),
            RuleEntry("deployVirtualMachine", DENY),
        ),
    )
    assert may_call(grant, "listZones") is True
    assert may_call(grant, "listClusters") is True  # allowed by list* though not a User default
    assert may_call(grant, "listHosts") is False  # denied before list* is reached
    assert may_call(grant, "deployVirtualMachine") is False  # a User default, denied


def test_without_a_matching_rule_the_role_type_decides() -> None:
    grant = Grant(DOMAIN, (RuleEntry("list*", DENY),))
    assert may_call(grant, "createAccount") is True
    assert may_call(grant, "addHost") is False
    assert may_call(grant, "listZones") is False


def test_a_default_role_follows_the_catalog() -> None:
    assert may_call(Grant(USER), "listZones")
    assert not may_call(Grant(USER), "createAccount")
    assert may_call(Grant(DOMAIN), "createAccount")
    assert not may_call(Grant(DOMAIN), "addHost")


def test_the_root_admin_role_may_call_anything_even_against_rules() -> None:
    assert may_call(Grant(ADMIN, (RuleEntry("*", DENY),), root=True), "addHost")
    # A custom Admin-type role is governed by its rules.
    assert not may_call(Grant(ADMIN, (RuleEntry("*", DENY),)), "addHost")


def test_escalations_are_what_the_requested_role_has_beyond_the_caller() -> None:
    domain_admin = Grant(DOMAIN)
    commands = sorted(DEFAULT_PERMISSIONS)
    assert escalations(Grant(USER), domain_admin, commands) == []
    assert escalations(Grant(DOMAIN), domain_admin, commands) == []
    wider = Grant(USER, (RuleEntry("addHost", ALLOW),))
    assert escalations(wider, domain_admin, commands) == ["addHost"]
    narrower_caller = Grant(DOMAIN, (RuleEntry("deployVirtualMachine", DENY),))
    assert escalations(Grant(USER), narrower_caller, commands) == ["deployVirtualMachine"]
