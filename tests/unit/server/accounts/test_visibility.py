import pytest

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import AccountType
from kvmcloud.server.accounts.roles import DEFAULT_ROLES, RoleType, role_by_uuid, role_of
from kvmcloud.server.accounts.visibility import (
    Scope,
    check_account_reach,
    check_domain_access,
    check_domain_reach,
    check_owner_enabled,
    check_rank,
    in_scope,
    in_subtree,
    is_manager,
    list_scope,
    may_see_account,
    may_see_domain,
    names_other_owner,
)
from kvmcloud.server.errors import InvalidParameterError, PermissionDeniedError


def caller(kind: AccountType, path: str = "/", account_id: int = 7) -> Caller:
    return Caller(
        user_id=1,
        account_id=account_id,
        account_uuid="acc",
        account_name="someone",
        domain_uuid="dom",
        is_admin=kind == AccountType.ADMIN,
        domain_id=3,
        domain_path=path,
        account_type=kind,
    )


ROOT = caller(AccountType.ADMIN)
BOSS = caller(AccountType.DOMAIN_ADMIN, "/a/")
USER = caller(AccountType.USER, "/a/")


def test_subtrees_are_path_prefixes_that_end_at_a_slash() -> None:
    assert in_subtree("/a/b/", "/a/")
    assert in_subtree("/a/", "/a/")
    assert not in_subtree("/ab/", "/a/")
    assert in_subtree("/anything/", "/")


def test_root_admin_sees_all_domain_admin_a_subtree_user_their_domain() -> None:
    assert may_see_domain(ROOT, "/x/")
    assert may_see_domain(BOSS, "/a/b/") and not may_see_domain(BOSS, "/")
    assert not may_see_domain(BOSS, "/ab/")
    assert may_see_domain(USER, "/a/") and not may_see_domain(USER, "/a/b/")


def test_accounts_seen_follow_the_same_rules() -> None:
    assert may_see_account(ROOT, 1, "/z/")
    assert may_see_account(BOSS, 1, "/a/b/") and not may_see_account(BOSS, 1, "/z/")
    assert may_see_account(USER, 7, "/a/") and not may_see_account(USER, 8, "/a/")


def test_only_admins_of_a_domain_pass_its_access_check() -> None:
    check_domain_access(ROOT, "/z/", "u")
    check_domain_access(BOSS, "/a/b/", "u")
    with pytest.raises(PermissionDeniedError):
        check_domain_access(BOSS, "/z/", "u")
    with pytest.raises(PermissionDeniedError, match="does not have permission to access domain u"):
        check_domain_access(USER, "/a/", "u")


@pytest.mark.parametrize(
    ("who", "kwargs", "expected"),
    [
        # A user gets their own account whatever they ask for.
        (USER, {"list_all": True}, Scope("/a/", subtree=False, account_id=7)),
        (USER, {"domain_path": "/"}, Scope("/a/", subtree=False, account_id=7)),
        # Admins: their own account by default, the subtree with listall.
        (BOSS, {}, Scope("/a/", subtree=False, account_id=7)),
        (BOSS, {"list_all": True}, Scope("/a/", subtree=True)),
        (ROOT, {"domain_path": "/b/"}, Scope("/b/", subtree=False)),
        (ROOT, {"domain_path": "/b/", "is_recursive": True}, Scope("/b/", subtree=True)),
        (ROOT, {"domain_path": "/b/", "list_all": True}, Scope("/b/", subtree=False)),
        (ROOT, {"account_id": 9}, Scope("/", subtree=False, account_id=9)),
        (ROOT, {"by_id": True}, Scope("/", subtree=True)),
        (BOSS, {"own_account_by_default": False}, Scope("/a/", subtree=False)),
    ],
)
def test_list_scope_follows_cloudstacks_acl_search(
    who: Caller, kwargs: dict[str, object], expected: Scope
) -> None:
    args: dict[str, object] = {
        "domain_path": None,
        "is_recursive": False,
        "list_all": False,
        "account_id": None,
    }
    assert list_scope(who, **(args | kwargs)) == expected  # type: ignore[arg-type]


def test_the_four_default_roles_match_account_types() -> None:
    assert [r.name for r in DEFAULT_ROLES] == [
        "Root Admin",
        "Resource Admin",
        "Domain Admin",
        "User",
    ]
    assert role_of(AccountType.DOMAIN_ADMIN).type is RoleType.DOMAIN_ADMIN
    assert role_of(AccountType.USER).name == "User"
    assert role_by_uuid(DEFAULT_ROLES[0].uuid.upper()) is DEFAULT_ROLES[0]
    assert role_by_uuid("00000000-0000-0000-0000-000000000000") is None


def test_only_a_root_admin_acts_on_a_root_admin_account() -> None:
    check_rank(ROOT, AccountType.ADMIN, "admin", "a-1")
    check_rank(BOSS, AccountType.DOMAIN_ADMIN, "peer", "a-2")
    check_rank(BOSS, AccountType.USER, "carol", "a-3")
    with pytest.raises(PermissionDeniedError) as refused:
        check_rank(BOSS, AccountType.ADMIN, "admin", "a-1")
    assert str(refused.value) == (
        "The calling account [someone, acc] has a lower role type than the user account "
        "[admin, a-1]"
    )


@pytest.mark.parametrize(
    ("scope", "account_id", "path", "expected"),
    [
        (Scope("/", subtree=True), 1, "/z/", True),
        (Scope("/a/", subtree=True), 1, "/a/b/", True),
        (Scope("/a/", subtree=True), 1, "/ab/", False),
        (Scope("/a/", subtree=False), 1, "/a/", True),
        (Scope("/a/", subtree=False), 1, "/a/b/", False),
        (Scope("/a/", subtree=False, account_id=7), 7, "/a/", True),
        (Scope("/a/", subtree=False, account_id=7), 8, "/a/", False),
        # An account filter wins over the path: the account is what was asked for.
        (Scope("/a/", subtree=True, account_id=7), 8, "/a/b/", False),
    ],
)
def test_in_scope_matches_an_account_or_a_domain_or_a_subtree(
    scope: Scope, account_id: int, path: str, expected: bool
) -> None:
    assert in_scope(scope, account_id, path) is expected


def test_managers_are_root_and_domain_admins() -> None:
    assert is_manager(ROOT) and is_manager(BOSS) and not is_manager(USER)


def test_a_list_filter_may_name_what_the_caller_sees_a_user_their_own_domain() -> None:
    check_domain_reach(USER, "/a/", "u")
    check_domain_reach(BOSS, "/a/b/", "u")
    check_domain_reach(ROOT, "/z/", "u")
    for who, path in ((USER, "/a/b/"), (BOSS, "/"), (BOSS, "/ab/")):
        with pytest.raises(PermissionDeniedError, match=r"permission to access domain u$"):
            check_domain_reach(who, path, "u")
    check_account_reach(USER, 7, "/a/", "me")
    check_account_reach(BOSS, 9, "/a/b/", "bob")
    with pytest.raises(PermissionDeniedError) as refused:
        check_account_reach(USER, 9, "/a/", "bob")
    assert str(refused.value) == "Account someone does not have permission to access account bob"
    with pytest.raises(PermissionDeniedError):
        check_account_reach(BOSS, 9, "/z/", "eve")


def test_an_owner_is_named_by_account_and_domainid_together() -> None:
    assert names_other_owner(ROOT, account_name=None, domain_uuid=None) is False
    assert names_other_owner(BOSS, account_name="bob", domain_uuid="d") is True
    for kwargs, missing in (
        ({"account_name": "bob", "domain_uuid": None}, "domainid"),
        ({"account_name": None, "domain_uuid": "d"}, "account"),
    ):
        with pytest.raises(InvalidParameterError) as refused:
            names_other_owner(ROOT, **kwargs)  # type: ignore[arg-type]
        assert refused.value.param == missing
        assert str(refused.value) == "AccountName and domainId must be specified together"


def test_a_user_names_only_their_own_account_as_owner() -> None:
    # Their own account and domain: the caller, nothing to look up.
    assert names_other_owner(USER, account_name="someone", domain_uuid="dom") is False
    for name, domain in (("bob", "dom"), ("someone", "other")):
        with pytest.raises(PermissionDeniedError) as refused:
            names_other_owner(USER, account_name=name, domain_uuid=domain)
        assert str(refused.value) == (
            f"Can't create/list resources for account {name} in domain {domain}, permission denied"
        )


def test_only_enabled_accounts_get_new_resources() -> None:
    check_owner_enabled("enabled", account_uuid="u", account_name="bob", what="vm to deploy")
    for state in ("disabled", "locked"):
        with pytest.raises(PermissionDeniedError) as refused:
            check_owner_enabled(state, account_uuid="u", account_name="bob", what="vm to deploy")
        assert str(refused.value) == f"The owner of vm to deploy is {state}: Acct[u-bob]"
