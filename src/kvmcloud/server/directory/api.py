"""Domain, account, user and API key commands (createDomain … getUserKeys)."""

from dataclasses import dataclass
from typing import Any

from kvmcloud.server.accounts.models import AccountType
from kvmcloud.server.accounts.service import ApiKeys
from kvmcloud.server.api.fields import SUCCESS
from kvmcloud.server.api.params import DomainListParams, Entity, ListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import AsyncResult, FlatResult, ListResult, ObjectResult
from kvmcloud.server.directory import domains, members, removal
from kvmcloud.server.directory.members import (
    ENABLED,
    LOCKED,
    AccountRef,
    NewUser,
    PasswordChange,
)
from kvmcloud.server.directory.views import (
    ACCOUNT,
    DOMAIN,
    USER,
    USER_KEYS,
    account_response,
    domain_response,
    user_keys_response,
    user_response,
)
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.paging import PageRequest

commands = CommandSet()

# The longest password CloudStack's UI accepts; checked so a bad value is named, not stored.
MAX_PASSWORD_CHARS = 255
ACCOUNT_TYPES = {int(t): t for t in AccountType}


# ---------------------------------------------------------------- domains


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateDomainParams:
    """Parameters of createDomain."""

    name: str = param("creates domain with this name")
    parent_domain_id: Uuid | None = param(
        "assigns new domain a parent domain by domain ID of the parent. If no parent "
        "domain is specified, the ROOT domain is assumed.",
        entity=Entity.DOMAIN,
        default=None,
    )
    network_domain: str | None = param("Network domain for networks in the domain", default=None)


@commands.command(
    "createDomain",
    CreateDomainParams,
    description="Creates a domain",
    response_key="domain",
    response=DOMAIN,
)
def create_domain(ctx: ApiContext, params: CreateDomainParams) -> ObjectResult:
    """Create a child domain (of ROOT unless parentdomainid says otherwise)."""
    record = domains.create_domain(
        ctx.db,
        ctx.caller,
        name=params.name,
        parent_uuid=params.parent_domain_id,
        network_domain=params.network_domain,
        clock=ctx.clock,
    )
    return ObjectResult("domain", domain_response(record))


@dataclass(frozen=True, slots=True, kw_only=True)
class ListDomainsParams(ListParams):
    """Parameters of listDomains."""

    id: Uuid | None = param("List domain by domain ID.", entity=Entity.DOMAIN, default=None)
    name: str | None = param("List domain by domain name.", default=None)
    level: int | None = param("List domains by domain level.", minimum=0, default=None)


@commands.command(
    "listDomains",
    ListDomainsParams,
    description="Lists domains and provides detailed information for listed domains",
    response_key="domain",
    response=DOMAIN,
)
def list_domains(ctx: ApiContext, params: ListDomainsParams) -> ListResult:
    """The caller's domain, or with listall the subtree they see."""
    wanted = domains.DomainFilter(
        uuid=params.id,
        name=params.name,
        level=params.level,
        keyword=params.keyword,
        list_all=bool(params.list_all),
    )
    return _domain_list(ctx, params, wanted, children=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListDomainChildrenParams(ListParams):
    """Parameters of listDomainChildren."""

    id: Uuid | None = param("list children of the domain by ID", entity=Entity.DOMAIN, default=None)
    name: str | None = param("list children domains by name", default=None)
    is_recursive: bool | None = param(
        'to return the entire tree, use the value "true". To return the first level '
        'children, use the value "false".',
        default=None,
    )


@commands.command(
    "listDomainChildren",
    ListDomainChildrenParams,
    description="Lists all children domains belonging to a specified domain",
    response_key="domain",
    response=DOMAIN,
)
def list_domain_children(ctx: ApiContext, params: ListDomainChildrenParams) -> ListResult:
    """The children (or with isrecursive all descendants) of a domain."""
    wanted = domains.DomainFilter(
        uuid=params.id,
        name=params.name,
        keyword=params.keyword,
        list_all=bool(params.list_all),
        is_recursive=bool(params.is_recursive),
    )
    return _domain_list(ctx, params, wanted, children=True)


def _domain_list(
    ctx: ApiContext, page: PageRequest, wanted: domains.DomainFilter, *, children: bool
) -> ListResult:
    records, total = domains.list_domains(ctx.db, ctx.caller, page, wanted, children=children)
    return ListResult("domain", [domain_response(r) for r in records], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateDomainParams:
    """Parameters of updateDomain."""

    id: Uuid = param("ID of domain to update", entity=Entity.DOMAIN)
    name: str | None = param("updates domain with this name", default=None)
    network_domain: str | None = param(
        "Network domain for the domain's networks; empty string will update domainName "
        "with NULL value",
        default=None,
    )


@commands.command(
    "updateDomain",
    UpdateDomainParams,
    description="Updates a domain with a new name",
    response_key="domain",
    response=DOMAIN,
)
def update_domain(ctx: ApiContext, params: UpdateDomainParams) -> ObjectResult:
    """Rename a domain (its subtree's paths follow) or change its network domain."""
    record = domains.update_domain(
        ctx.db, ctx.caller, params.id, name=params.name, network_domain=params.network_domain
    )
    return ObjectResult("domain", domain_response(record))


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteDomainParams:
    """Parameters of deleteDomain."""

    id: Uuid = param("ID of domain to delete", entity=Entity.DOMAIN)
    cleanup: bool | None = param(
        "true if all domain resources (child domains, accounts) have to be cleaned up, "
        "false otherwise",
        default=None,
    )


@commands.command(
    "deleteDomain",
    DeleteDomainParams,
    description="Deletes a specified domain",
    response_key="success",
    response=SUCCESS,
    is_async=True,
)
def delete_domain(ctx: ApiContext, params: DeleteDomainParams) -> AsyncResult:
    """Queue deleting an empty domain, or with cleanup=true its subtree and its accounts."""
    job_id = removal.queue_domain_deletion(
        ctx.db, ctx.caller, params.id, cleanup=bool(params.cleanup), clock=ctx.clock
    )
    return AsyncResult(job_id)


# ---------------------------------------------------------------- accounts


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateAccountParams:
    """Parameters of createAccount."""

    username: str = param("Unique username.")
    password: str | None = param(
        "Clear text password (optional: a user without one signs in with API keys only)",
        length=MAX_PASSWORD_CHARS,
        default=None,
    )
    email: str = param("email")
    first_name: str = param("firstname")
    last_name: str = param("lastname")
    account_type: int | None = param(
        "Type of the account. 0 for user, 1 for root admin, and 2 for domain admin",
        minimum=0,
        maximum=2,
        default=None,
    )
    role_id: Uuid | None = param(
        "Creates the account under the specified role.", entity=Entity.ROLE, default=None
    )
    domain_id: Uuid | None = param(
        "Creates the user under the specified domain.", entity=Entity.DOMAIN, default=None
    )
    account: str | None = param(
        "Name of the account to be created. The user will be added to this newly created "
        "account. If no account is specified, the username will be used as the account name.",
        length=100,
        default=None,
    )


@commands.command(
    "createAccount",
    CreateAccountParams,
    description="Creates an account",
    response_key="account",
    response=ACCOUNT,
)
def create_account(ctx: ApiContext, params: CreateAccountParams) -> ObjectResult:
    """Create an account and its first user in a domain the caller manages."""
    record = members.create_account(
        ctx.db,
        ctx.caller,
        NewUser(
            username=params.username,
            first_name=params.first_name,
            last_name=params.last_name,
            email=params.email,
            password=None if params.password is None else _password(params.password),
        ),
        account_name=params.account,
        account_type=None if params.account_type is None else ACCOUNT_TYPES[params.account_type],
        role_uuid=params.role_id,
        domain_uuid=params.domain_id,
        clock=ctx.clock,
    )
    return ObjectResult("account", account_response(record))


@dataclass(frozen=True, slots=True, kw_only=True)
class PeopleListParams(DomainListParams):
    """The filters listAccounts and listUsers share."""

    account_type: int | None = param(
        "list by account type: 0 user, 1 root admin, 2 domain admin",
        minimum=0,
        maximum=2,
        default=None,
    )
    state: str | None = param("list by state", default=None)

    def people_filter(
        self, *, uuid: str | None, name: str | None, account_name: str | None = None
    ) -> members.PersonFilter:
        """The filter these parameters and the command's own ask for."""
        owners = self.owner_filter(account_name)
        return members.PersonFilter(
            uuid=uuid,
            name=name,
            owners=owners,
            state=self.state,
            keyword=self.keyword,
            account_type=None if self.account_type is None else ACCOUNT_TYPES[self.account_type],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ListAccountsParams(PeopleListParams):
    """Parameters of listAccounts."""

    id: Uuid | None = param("list account by account ID", entity=Entity.ACCOUNT, default=None)
    name: str | None = param("list account by account name", default=None)


@commands.command(
    "listAccounts",
    ListAccountsParams,
    description="Lists accounts and provides detailed account information for listed accounts",
    response_key="account",
    response=ACCOUNT,
)
def list_accounts(ctx: ApiContext, params: ListAccountsParams) -> ListResult:
    """The accounts the caller may see, with their users."""
    wanted = params.people_filter(uuid=params.id, name=params.name)
    records, total = members.list_accounts(ctx.db, ctx.caller, params, wanted)
    return ListResult("account", [account_response(r) for r in records], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountRefParams:
    """An account named by ``id``, or by ``account`` and ``domainid``."""

    id: Uuid | None = param("Account id", entity=Entity.ACCOUNT, default=None)
    account: str | None = param("Account name", length=100, default=None)
    domain_id: Uuid | None = param("Domain ID of the account", entity=Entity.DOMAIN, default=None)

    def ref(self) -> AccountRef:
        """The account these parameters name."""
        return AccountRef(uuid=self.id, name=self.account, domain_uuid=self.domain_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateAccountParams(AccountRefParams):
    """Parameters of updateAccount."""

    new_name: str | None = param("new name for the account", length=100, default=None)
    role_id: Uuid | None = param(
        "The UUID of the dynamic role to set for the account (of the same type as its role)",
        entity=Entity.ROLE,
        default=None,
    )


@commands.command(
    "updateAccount",
    UpdateAccountParams,
    description="Updates account information for the authenticated user",
    response_key="account",
    response=ACCOUNT,
)
def update_account(ctx: ApiContext, params: UpdateAccountParams) -> ObjectResult:
    """Rename an account, or give it another role of the same type."""
    record = members.update_account(
        ctx.db, ctx.caller, params.ref(), new_name=params.new_name, role_uuid=params.role_id
    )
    return ObjectResult("account", account_response(record))


@dataclass(frozen=True, slots=True, kw_only=True)
class DisableAccountParams(AccountRefParams):
    """Parameters of disableAccount."""

    lock: bool = param("If true, only lock the account; else disable the account")


@commands.command(
    "disableAccount",
    DisableAccountParams,
    description="Disables an account",
    response_key="account",
    response=ACCOUNT,
    is_async=True,
)
def disable_account(ctx: ApiContext, params: DisableAccountParams) -> AsyncResult:
    """Disable (or with lock=true lock) an account now; the job stops a disabled one's VMs."""
    job_id = removal.queue_account_disabling(
        ctx.db, ctx.caller, params.ref(), lock=params.lock, clock=ctx.clock
    )
    return AsyncResult(job_id)


@commands.command(
    "enableAccount",
    AccountRefParams,
    description="Enables an account",
    response_key="account",
    response=ACCOUNT,
)
def enable_account(ctx: ApiContext, params: AccountRefParams) -> ObjectResult:
    """Enable a disabled or locked account."""
    return _account_state(ctx, params.ref(), ENABLED)


@commands.command(
    "lockAccount",
    AccountRefParams,
    description="Locks an account",
    response_key="account",
    response=ACCOUNT,
)
def lock_account(ctx: ApiContext, params: AccountRefParams) -> ObjectResult:
    """Lock an account: its users' keys stop working."""
    return _account_state(ctx, params.ref(), LOCKED)


def _account_state(ctx: ApiContext, ref: AccountRef, state: str) -> ObjectResult:
    record = members.set_account_state(ctx.db, ctx.caller, ref, state, command=ctx.command)
    return ObjectResult("account", account_response(record))


@commands.command(
    "deleteAccount",
    AccountRefParams,
    description="Deletes a account, and all users associated with this account",
    response_key="success",
    response=SUCCESS,
    is_async=True,
)
def delete_account(ctx: ApiContext, params: AccountRefParams) -> AsyncResult:
    """Remove the account's users now; queue the job removing its VMs, templates and ISOs."""
    return AsyncResult(
        removal.queue_account_deletion(ctx.db, ctx.caller, params.ref(), clock=ctx.clock)
    )


# ---------------------------------------------------------------- users


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateUserParams:
    """Parameters of createUser."""

    username: str = param("Unique username.")
    password: str | None = param(
        "Clear text password (optional: a user without one signs in with API keys only)",
        length=MAX_PASSWORD_CHARS,
        default=None,
    )
    email: str = param("email")
    first_name: str = param("firstname")
    last_name: str = param("lastname")
    account: str = param("Creates the user under the specified account.", length=100)
    domain_id: Uuid | None = param(
        "Creates the user under the specified domain.", entity=Entity.DOMAIN, default=None
    )


@commands.command(
    "createUser",
    CreateUserParams,
    description="Creates a user for an account that already exists",
    response_key="user",
    response=USER,
)
def create_user(ctx: ApiContext, params: CreateUserParams) -> ObjectResult:
    """Add a user to an existing account."""
    record = members.create_user(
        ctx.db,
        ctx.caller,
        NewUser(
            username=params.username,
            first_name=params.first_name,
            last_name=params.last_name,
            email=params.email,
            password=None if params.password is None else _password(params.password),
        ),
        account_name=params.account,
        domain_uuid=params.domain_id,
        clock=ctx.clock,
    )
    return ObjectResult("user", user_response(record))


@dataclass(frozen=True, slots=True, kw_only=True)
class ListUsersParams(PeopleListParams):
    """Parameters of listUsers."""

    id: Uuid | None = param("List user by ID.", entity=Entity.USER, default=None)
    username: str | None = param("List user by the username", default=None)
    account: str | None = param("list resources by account", length=100, default=None)


@commands.command(
    "listUsers",
    ListUsersParams,
    description="Lists user accounts",
    response_key="user",
    response=USER,
)
def list_users(ctx: ApiContext, params: ListUsersParams) -> ListResult:
    """The users of the accounts the caller may see."""
    wanted = params.people_filter(uuid=params.id, name=params.username, account_name=params.account)
    records, total = members.list_users(ctx.db, ctx.caller, params, wanted)
    return ListResult("user", [user_response(r) for r in records], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class UserIdParams:
    """A user named by ``id``."""

    id: Uuid = param("User id", entity=Entity.USER)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateUserParams(UserIdParams):
    """Parameters of updateUser."""

    username: str | None = param("Unique username", default=None)
    first_name: str | None = param("first name", default=None)
    last_name: str | None = param("last name", default=None)
    email: str | None = param("email", default=None)
    password: str | None = param(
        "Clear text password",
        length=MAX_PASSWORD_CHARS,
        default=None,
    )
    current_password: str | None = param(
        "Current password that was being used by the user. You must inform the current "
        "password when updating the password.",
        length=MAX_PASSWORD_CHARS,
        default=None,
    )


@commands.command(
    "updateUser",
    UpdateUserParams,
    description="Updates a user account",
    response_key="user",
    response=USER,
)
def update_user(ctx: ApiContext, params: UpdateUserParams) -> ObjectResult:
    """Change a user's names, email or username."""
    record = members.update_user(
        ctx.db,
        ctx.caller,
        params.id,
        username=params.username,
        first_name=params.first_name,
        last_name=params.last_name,
        email=params.email,
        password=(
            None
            if params.password is None
            else PasswordChange(_password(params.password), params.current_password)
        ),
    )
    return ObjectResult("user", user_response(record))


@commands.command(
    "disableUser",
    UserIdParams,
    description="Disables a user account",
    response_key="user",
    response=USER,
    is_async=True,
)
def disable_user(ctx: ApiContext, params: UserIdParams) -> AsyncResult:
    """Disable a user now (their keys and sessions stop working); the job answers them."""
    return AsyncResult(removal.queue_user_disabling(ctx.db, ctx.caller, params.id, clock=ctx.clock))


@commands.command(
    "enableUser",
    UserIdParams,
    description="Enables a user account",
    response_key="user",
    response=USER,
)
def enable_user(ctx: ApiContext, params: UserIdParams) -> ObjectResult:
    """Enable a disabled user."""
    record = members.set_user_state(ctx.db, ctx.caller, params.id, ENABLED, command=ctx.command)
    return ObjectResult("user", user_response(record))


@commands.command(
    "deleteUser",
    UserIdParams,
    description="Deletes a user for an account",
    response_key="success",
    response=SUCCESS,
)
def delete_user(ctx: ApiContext, params: UserIdParams) -> FlatResult:
    """Delete a user (not the caller, nor an account's last user)."""
    members.delete_user(ctx.db, ctx.caller, params.id, ctx.clock)
    return FlatResult({"success": True})


@commands.command(
    "registerUserKeys",
    UserIdParams,
    description="This command allows a user to register for the developer API, returning a "
    "secret key and an API key. The old pair stops working.",
    response_key="userkeys",
    response=USER_KEYS,
)
def register_user_keys(ctx: ApiContext, params: UserIdParams) -> ObjectResult:
    """Mint a new key pair for the user (themselves, or one an admin manages)."""
    keys = members.register_keys(ctx.db, ctx.caller, params.id, ctx.box)
    return ObjectResult("userkeys", _keys_response(keys))


@commands.command(
    "getUserKeys",
    UserIdParams,
    description="This command allows the user to query the seceret and API keys for the account",
    response_key="userkeys",
    response=USER_KEYS,
)
def get_user_keys(ctx: ApiContext, params: UserIdParams) -> ObjectResult:
    """A user's key pair, for themselves or an admin over them."""
    keys = members.user_keys(ctx.db, ctx.caller, params.id, ctx.box)
    return ObjectResult("userkeys", _keys_response(keys) if keys else {})


# ---------------------------------------------------------------- helpers


def _password(password: str) -> str:
    # The value is never quoted back: it is a secret even when it is refused.
    if not password.strip():
        raise InvalidParameterError("password", "Password cannot be empty or blank.")
    return password


def _keys_response(keys: ApiKeys) -> dict[str, Any]:
    return user_keys_response(keys.api_key, keys.secret_key)
