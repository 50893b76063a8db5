"""Access across accounts (pure): who may operate on or launch what, with CloudStack's 531 texts."""

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import AccountType
from kvmcloud.server.accounts.visibility import in_subtree
from kvmcloud.server.errors import PermissionDeniedError

# CloudStack answers PermissionDeniedException (531) for a resource that exists but belongs
# to another account, and InvalidParameterValueException (431) for an id that does not
# exist. Its texts name the resource by its internal id and name; kvmcloud names the uuid
# the caller gave, so that a refusal tells nothing the caller did not already know.
#
# As CloudStack's checkAccess: a root admin acts on everything, a domain admin on what the
# accounts of their subtree own, a user on their own account's. ``owner_domain_path`` is
# the path of the owner's domain; None (not loaded) lets only root admins and the owner by.


def may_act_on(caller: Caller, owner_account_id: int | None, owner_domain_path: str | None) -> bool:
    """Whether the caller may operate on what ``owner_account_id`` owns."""
    if caller.is_admin or owner_account_id == caller.account_id:
        return True
    return (
        caller.account_type == AccountType.DOMAIN_ADMIN
        and owner_domain_path is not None
        and in_subtree(owner_domain_path, caller.domain_path)
    )


def check_owner(
    caller: Caller,
    owner_account_id: int | None,
    resource: str,
    owner_domain_path: str | None = None,
) -> None:
    """Let admins over the owner and the owner's account through; refuse others with 531.

    ``resource`` names what was asked for, as ``VM instance <uuid>``.
    """
    if may_act_on(caller, owner_account_id, owner_domain_path):
        return
    raise PermissionDeniedError(
        f"Account {caller.account_name} does not have permission to operate with resource "
        f"{resource}"
    )


def check_may_launch(
    caller: Caller,
    *,
    owner_account_id: int | None,
    public: bool,
    image_uuid: str,
    owner_domain_path: str | None = None,
) -> None:
    """Let a caller use an image (deploy from it, insert it) that is theirs or public."""
    if public or may_act_on(caller, owner_account_id, owner_domain_path):
        return
    raise PermissionDeniedError(
        f"Account {caller.account_name} does not have permission to launch instances from "
        f"template {image_uuid}"
    )


def check_may_launch_for(
    owner_name: str,
    owner_account_id: int,
    *,
    image_owner_account_id: int | None,
    public: bool,
    image_uuid: str,
) -> None:
    """Let a VM deployed for another account use only an image that account may launch."""
    if public or image_owner_account_id == owner_account_id:
        return
    raise PermissionDeniedError(
        f"Account {owner_name} does not have permission to launch instances from "
        f"template {image_uuid}"
    )


def check_may_modify_image(
    caller: Caller,
    *,
    owner_account_id: int | None,
    public: bool,
    image_uuid: str,
    owner_domain_path: str | None = None,
) -> None:
    """Let admins over the owner and the owner change or delete an image; refuse others (531)."""
    if may_act_on(caller, owner_account_id, owner_domain_path):
        return
    if not public:
        check_may_launch(
            caller, owner_account_id=owner_account_id, public=False, image_uuid=image_uuid
        )
    raise PermissionDeniedError(
        "Domain Admin and regular users can modify only their own Public templates"
    )


def check_job_reader(
    caller: Caller,
    job_account_id: int | None,
    job_uuid: str,
    owner_domain_path: str | None = None,
) -> None:
    """Let admins over the job's account and that account read a job; refuse others (531)."""
    if may_act_on(caller, job_account_id, owner_domain_path):
        return
    raise PermissionDeniedError(
        f"Account {caller.account_name} is not authorized to see job id={job_uuid}"
    )
