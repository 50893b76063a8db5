import pytest

from kvmcloud.server.accounts.access import (
    check_job_reader,
    check_may_launch,
    check_may_launch_for,
    check_may_modify_image,
    check_owner,
    may_act_on,
)
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import AccountType
from kvmcloud.server.errors import PermissionDeniedError


def caller(account_id: int, *, is_admin: bool = False) -> Caller:
    return Caller(
        user_id=1,
        account_id=account_id,
        account_uuid="a",
        account_name="bob",
        domain_uuid="d",
        is_admin=is_admin,
    )


def domain_admin(path: str = "/sub/") -> Caller:
    return Caller(
        user_id=2,
        account_id=20,
        account_uuid="b",
        account_name="boss",
        domain_uuid="d",
        is_admin=False,
        domain_path=path,
        account_type=AccountType.DOMAIN_ADMIN,
    )


def test_owners_and_admins_pass_others_get_531() -> None:
    check_owner(caller(7), 7, "VM instance v")
    check_owner(caller(8, is_admin=True), 7, "VM instance v")
    with pytest.raises(PermissionDeniedError) as refused:
        check_owner(caller(8), 7, "VM instance v")
    assert refused.value.error_code == 531
    assert str(refused.value) == (
        "Account bob does not have permission to operate with resource VM instance v"
    )


def test_public_images_are_launched_by_anyone_private_by_their_owner() -> None:
    check_may_launch(caller(8), owner_account_id=7, public=True, image_uuid="t")
    check_may_launch(caller(7), owner_account_id=7, public=False, image_uuid="t")
    with pytest.raises(PermissionDeniedError, match="launch instances from template t"):
        check_may_launch(caller(8), owner_account_id=7, public=False, image_uuid="t")


def test_only_owners_and_admins_modify_an_image() -> None:
    check_may_modify_image(caller(7), owner_account_id=7, public=True, image_uuid="t")
    check_may_modify_image(
        caller(8, is_admin=True), owner_account_id=7, public=False, image_uuid="t"
    )
    with pytest.raises(PermissionDeniedError, match="only their own Public templates"):
        check_may_modify_image(caller(8), owner_account_id=7, public=True, image_uuid="t")
    with pytest.raises(PermissionDeniedError, match="launch instances"):
        check_may_modify_image(caller(8), owner_account_id=7, public=False, image_uuid="t")


def test_jobs_are_read_by_their_account_and_admins() -> None:
    check_job_reader(caller(7), 7, "j")
    check_job_reader(caller(8, is_admin=True), 7, "j")
    with pytest.raises(PermissionDeniedError, match="not authorized to see job id=j"):
        check_job_reader(caller(8), 7, "j")


def test_a_domain_admin_acts_on_what_their_subtree_owns() -> None:
    boss = domain_admin()
    assert may_act_on(boss, 7, "/sub/") and may_act_on(boss, 7, "/sub/deeper/")
    assert may_act_on(boss, 20, None)  # their own account's, wherever it is
    assert not may_act_on(boss, 7, "/other/")
    assert not may_act_on(boss, 7, "/subway/")
    # Without the owner's domain only root admins and the owner pass.
    assert not may_act_on(boss, 7, None)
    check_owner(boss, 7, "VM instance v", "/sub/x/")
    with pytest.raises(PermissionDeniedError, match=r"^Account boss does not have permission"):
        check_owner(boss, 7, "VM instance v", "/other/")
    check_may_launch(
        boss, owner_account_id=7, public=False, image_uuid="t", owner_domain_path="/sub/"
    )
    check_may_modify_image(
        boss, owner_account_id=7, public=True, image_uuid="t", owner_domain_path="/sub/"
    )
    check_job_reader(boss, 7, "j", "/sub/")
    with pytest.raises(PermissionDeniedError, match="not authorized to see job id=j"):
        check_job_reader(boss, 7, "j", "/")


def test_a_vm_for_another_account_uses_an_image_that_account_may_launch() -> None:
    check_may_launch_for("alice", 7, image_owner_account_id=7, public=False, image_uuid="t")
    check_may_launch_for("alice", 7, image_owner_account_id=8, public=True, image_uuid="t")
    with pytest.raises(PermissionDeniedError) as refused:
        check_may_launch_for("alice", 7, image_owner_account_id=8, public=False, image_uuid="t")
    assert str(refused.value) == (
        "Account alice does not have permission to launch instances from template t"
    )
