"""Directory jobs: delete an account or a domain, disable an account or a user."""

from typing import Any

from kvmcloud.server.accounts.models import Account, Domain
from kvmcloud.server.directory import members, removal
from kvmcloud.server.directory.removal import AccountResources, Progress
from kvmcloud.server.directory.views import account_response, user_response
from kvmcloud.server.errors import ApiError
from kvmcloud.server.jobs.runner import JobContext, RetryLater


def run_delete_account(ctx: JobContext, *, resources: AccountResources) -> dict[str, Any]:
    """DeleteAccount's job: expunge the VMs, delete the templates and ISOs, remove the account.

    Runs again every few seconds while the VM and template jobs it queued run.
    """
    with ctx.db.transaction() as session:
        account = session.get_one(Account, int(ctx.payload["account_id"]))
        owner = removal.job_owner(session, ctx.job_id)
        progress = removal.advance_account_removal(session, account, resources, owner, ctx.clock())
        what = f"account {account.account_name} ({account.uuid})"
    _settle(
        progress,
        f"Failed to delete {what}",
        "the account stays in state removing: call deleteAccount again to retry",
    )
    return {"success": True}


def run_delete_domain(ctx: JobContext, *, resources: AccountResources) -> dict[str, Any]:
    """DeleteDomain's job: remove the accounts being removed in the subtree, then its domains."""
    with ctx.db.transaction() as session:
        domain = session.get_one(Domain, int(ctx.payload["domain_id"]))
        owner = removal.job_owner(session, ctx.job_id)
        progress = removal.advance_domain_removal(session, domain, resources, owner, ctx.clock())
        name, uuid, removed = domain.name, domain.uuid, domain.removed is not None
    _settle(
        progress,
        f"Failed to clean up domain {name} ({uuid})",
        "its domains stay Inactive: call deleteDomain with cleanup=true again to retry",
    )
    if not removed:
        raise ApiError(
            f"Delete failed on domain {name} (id: {uuid}); Please make sure all users and sub "
            "domains have been removed from the domain before deleting"
        )
    return {"success": True}


def run_disable_account(ctx: JobContext, *, resources: AccountResources) -> dict[str, Any]:
    """DisableAccount's job: stop a disabled account's running VMs; answer the account."""
    with ctx.db.transaction() as session:
        account = session.get_one(Account, int(ctx.payload["account_id"]))
        owner = removal.job_owner(session, ctx.job_id)
        progress = removal.advance_account_disabling(
            session, account, resources, owner, ctx.clock()
        )
        domain = session.get_one(Domain, account.domain_id)
        result = {"account": account_response(members.account_record(session, account, domain))}
        what = f"account {account.account_name} ({account.uuid})"
    _settle(
        progress,
        f"Disabled {what}, but not all of its VMs stopped",
        "call disableAccount again to retry",
    )
    return result


def run_disable_user(ctx: JobContext) -> dict[str, Any]:
    """DisableUser's job: the user was disabled when asked; answer them."""
    with ctx.db.transaction() as session:
        owner = removal.job_owner(session, ctx.job_id)
        record = removal.user_of(session, int(ctx.payload["user_id"]), owner)
        return {"user": user_response(record)}


def _settle(progress: Progress, failed: str, retry: str) -> None:
    """Wait for the jobs still running; then fail with every failure, if any."""
    if progress.waiting:
        raise RetryLater(removal.WAIT_S, f"waiting for {progress.waiting} VM or template jobs")
    if progress.failures:
        raise ApiError(f"{failed}: {'; '.join(progress.failures)}; {retry}")
