"""Access across accounts (pure): who may operate on or launch what, with CloudStack's 531 texts."""

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.errors import PermissionDeniedError

# CloudStack answers PermissionDeniedException (531) for a resource that exists but belongs
# to another account, and InvalidParameterValueException (431) for an id that does not
# exist. Its texts name the resource by its internal id and name; kvmcloud names the uuid
# the caller gave, so that a refusal tells nothing the caller did not already know.


def check_owner(caller: Caller, owner_account_id: int | None, resource: str) -> None:
    """Let admins and the owner's account through; refuse others with 531.

    ``resource`` names what was asked for, as ``VM instance <uuid>``.
    """
    if caller.is_admin or owner_account_id == caller.account_id:
        return
    raise PermissionDeniedError(
        f"Account {caller.account_name} does not have permission to operate with resource "
        f"{resource}"
    )


def check_may_launch(
    caller: Caller, *, owner_account_id: int | None, public: bool, image_uuid: str
) -> None:
    """Let a caller use an image (deploy from it, insert it) that is theirs or public."""
    if caller.is_admin or public or owner_account_id == caller.account_id:
        return
    raise PermissionDeniedError(
        f"Account {caller.account_name} does not have permission to launch instances from "
        f"template {image_uuid}"
    )


def check_may_modify_image(
    caller: Caller, *, owner_account_id: int | None, public: bool, image_uuid: str
) -> None:
    """Let admins and the owner change or delete an image; refuse others with 531."""
    if caller.is_admin or owner_account_id == caller.account_id:
        return
    if not public:
        check_may_launch(
            caller, owner_account_id=owner_account_id, public=False, image_uuid=image_uuid
        )
    raise PermissionDeniedError(
        "Domain Admin and regular users can modify only their own Public templates"
    )


def check_job_reader(caller: Caller, job_account_id: int | None, job_uuid: str) -> None:
    """Let admins and the job's account read a job; refuse others with 531."""
    if caller.is_admin or job_account_id == caller.account_id:
        return
    raise PermissionDeniedError(
        f"Account {caller.account_name} is not authorized to see job id={job_uuid}"
    )
