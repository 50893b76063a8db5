"""CloudStack's domain, account and user objects (pure)."""

from typing import Any

from kvmcloud.server.api.responses import format_date, without_none
from kvmcloud.server.directory.records import AccountRecord, DomainRecord, UserRecord


def domain_response(record: DomainRecord) -> dict[str, Any]:
    """Map a domain to CloudStack's domain object."""
    domain, parent = record.domain, record.parent
    return without_none(
        {
            "id": domain.uuid,
            "name": domain.name,
            "level": domain.level,
            "parentdomainid": parent.uuid if parent else None,
            "parentdomainname": parent.name if parent else None,
            "haschild": record.has_child,
            "networkdomain": domain.network_domain,
            "path": _display_path(domain.path),
            "state": domain.state.value,
        }
    )


def account_response(record: AccountRecord) -> dict[str, Any]:
    """Map an account and its users to CloudStack's account object."""
    account, domain, role = record.account, record.domain, record.role
    return without_none(
        {
            "id": account.uuid,
            "name": account.account_name,
            "accounttype": int(account.type),
            "roleid": role.uuid,
            "roletype": role.role_type.value,
            "rolename": role.name,
            "domainid": domain.uuid,
            "domain": domain.name,
            "domainpath": _display_path(domain.path),
            "state": account.state,
            "created": format_date(account.created),
            "isdefault": record.is_default,
            "templatetotal": record.template_total,
            "vmtotal": record.vm_total,
            "user": [user_response(u) for u in record.users],
        }
    )


def user_response(record: UserRecord) -> dict[str, Any]:
    """Map a user to CloudStack's user object: the api key, never the secret key."""
    user, account, domain, role = record.user, record.account, record.domain, record.role
    return without_none(
        {
            "id": user.uuid,
            "username": user.username,
            "firstname": user.first_name,
            "lastname": user.last_name,
            "email": user.email,
            "created": format_date(user.created),
            "state": user.state,
            "account": account.account_name,
            "accountid": account.uuid,
            "accounttype": int(account.type),
            "roleid": role.uuid,
            "roletype": role.role_type.value,
            "rolename": role.name,
            "domainid": domain.uuid,
            "domain": domain.name,
            "apikey": user.api_key,
            "iscallerchilddomain": record.is_caller_child_domain,
            "isdefault": record.is_default,
        }
    )


def _display_path(path: str) -> str:
    # CloudStack shows ROOT for "/" and "ROOT/a/b" for "/a/b/" in path and domainpath.
    return "ROOT" + path.rstrip("/") if path != "/" else "ROOT"
