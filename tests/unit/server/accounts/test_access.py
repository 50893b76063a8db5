import pytest

from kvmcloud.server.accounts.access import (
    check_job_reader,
    check_may_launch,
    check_may_modify_image,
    check_owner,
)
from kvmcloud.server.accounts.callers import Caller
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
