"""CloudStack's domain, account and user objects (pure)."""

from typing import Any

from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.api.params import Entity
from kvmcloud.server.api.responses import format_date
from kvmcloud.server.directory.records import AccountRecord, DomainRecord, UserRecord

DOMAIN = ObjectSchema(
    "DomainResponse",
    (
        out("id", FieldType.STRING, "The ID of the domain"),
        out("name", FieldType.STRING, "The name of the domain"),
        out("level", FieldType.INTEGER, "The level of the domain"),
        out("parentdomainid", FieldType.STRING, "The domain ID of the parent domain"),
        out("parentdomainname", FieldType.STRING, "The domain name of the parent domain"),
        out("haschild", FieldType.BOOLEAN, "Whether the domain has one or more sub-domains"),
        out("networkdomain", FieldType.STRING, "The Network domain"),
        out("path", FieldType.STRING, "The path of the domain"),
        out("state", FieldType.STRING, "The state of the domain"),
    ),
    entity=Entity.DOMAIN,
)

USER = ObjectSchema(
    "UserResponse",
    (
        out("id", FieldType.STRING, "The user ID"),
        out("username", FieldType.STRING, "The user name"),
        out("firstname", FieldType.STRING, "The user firstname"),
        out("lastname", FieldType.STRING, "The user lastname"),
        out("email", FieldType.STRING, "The user email address"),
        out("created", FieldType.DATE, "The date and time the user Account was created"),
        out("state", FieldType.STRING, "The user state"),
        out("account", FieldType.STRING, "The Account name of the user"),
        out("accountid", FieldType.STRING, "The Account ID of the user"),
        out("accounttype", FieldType.INTEGER, "The Account type of the user"),
        out("roleid", FieldType.STRING, "The ID of the role"),
        out("roletype", FieldType.STRING, "The type of the role"),
        out("rolename", FieldType.STRING, "The name of the role"),
        out("domainid", FieldType.STRING, "The domain ID of the user"),
        out("domain", FieldType.STRING, "The domain name of the user"),
        out("apikey", FieldType.STRING, "The api key of the user"),
        out(
            "iscallerchilddomain",
            FieldType.BOOLEAN,
            "The boolean value representing if the updating target is in caller's child domain",
        ),
        out("isdefault", FieldType.BOOLEAN, "True if user is default, false otherwise"),
    ),
    entity=Entity.USER,
)

ACCOUNT = ObjectSchema(
    "AccountResponse",
    (
        out("id", FieldType.STRING, "the id of the account"),
        out("name", FieldType.STRING, "the name of the account"),
        out("accounttype", FieldType.INTEGER, "account type (admin, domain-admin, user)"),
        out("roleid", FieldType.STRING, "the ID of the role"),
        out(
            "roletype",
            FieldType.STRING,
            "the type of the role (Admin, ResourceAdmin, DomainAdmin, User)",
        ),
        out("rolename", FieldType.STRING, "the name of the role"),
        out("domainid", FieldType.STRING, "id of the Domain the account belongs to"),
        out("domain", FieldType.STRING, "name of the Domain the account belongs to"),
        out("domainpath", FieldType.STRING, "path of the Domain the account belongs to"),
        out("state", FieldType.STRING, "the state of the account"),
        out("created", FieldType.DATE, "the date when this account was created"),
        out("isdefault", FieldType.BOOLEAN, "true if account is default, false otherwise"),
        out(
            "templatetotal",
            FieldType.LONG,
            "the total number of templates which have been created by this account",
        ),
        out(
            "vmtotal",
            FieldType.LONG,
            "the total number of virtual machines deployed by this account",
        ),
        out("user", FieldType.LIST, "the list of users associated with account", nested=USER),
    ),
    entity=Entity.ACCOUNT,
)

# getUserKeys and registerUserKeys: CloudStack's RegisterResponse, under "userkeys".
USER_KEYS = ObjectSchema(
    "RegisterResponse",
    (
        out("apikey", FieldType.STRING, "the api key of the registered user"),
        out("secretkey", FieldType.STRING, "the secret key of the registered user"),
    ),
)


def domain_response(record: DomainRecord) -> dict[str, Any]:
    """Map a domain to CloudStack's domain object."""
    domain, parent = record.domain, record.parent
    return DOMAIN.render(
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
    return ACCOUNT.render(
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
    return USER.render(
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


def user_keys_response(api_key: str, secret_key: str) -> dict[str, Any]:
    """Map a user's key pair to CloudStack's userkeys object."""
    return USER_KEYS.render({"apikey": api_key, "secretkey": secret_key})


def _display_path(path: str) -> str:
    # CloudStack shows ROOT for "/" and "ROOT/a/b" for "/a/b/" in path and domainpath.
    return "ROOT" + path.rstrip("/") if path != "/" else "ROOT"
