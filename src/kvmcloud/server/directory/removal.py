"""deleteAccount, deleteDomain, disableAccount, disableUser: queue the job; the steps it takes."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account, AccountType, Domain, DomainState, User
from kvmcloud.server.accounts.visibility import check_domain_access, in_subtree
from kvmcloud.server.db import Database
from kvmcloud.server.directory import members
from kvmcloud.server.directory.members import DISABLED, LOCKED, REMOVING, AccountRef
from kvmcloud.server.directory.records import UserRecord
from kvmcloud.server.errors import ApiError, PermissionDeniedError
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.models import AsyncJob, JobStatus
from kvmcloud.server.queries import get_by_uuid

DELETE_ACCOUNT_JOB = "delete_account"
DELETE_DOMAIN_JOB = "delete_domain"
DISABLE_ACCOUNT_JOB = "disable_account"
DISABLE_USER_JOB = "disable_user"
_ADMIN_CMD = "org.apache.cloudstack.api.command.admin"
# How soon a job waiting for the VM and template jobs it queued looks at them again.
WAIT_S = 2.0


class QueueJob(Protocol):
    """Queue the normal job that acts on one VM or image; return the job's uuid."""

    def __call__(
        self,
        session: Session,
        uuid: str,
        /,
        *,
        account_id: int | None,
        user_id: int | None,
        now: datetime,
    ) -> str:
        """Queue it in the open transaction, for the given account and user."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceStep:
    """One kind of work on what an account owns: which items need it and the job doing it."""

    # The job kind ``queue`` adds: its failures (since the step began) fail the step.
    job_kind: str
    # The account's items needing the work, as (uuid, "VM web1" / "template t1").
    find: Callable[[Session, int], list[tuple[str, str]]]
    queue: QueueJob
    # What the item could not be, for the error text: "destroyed", "deleted", "stopped".
    failed_verb: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountResources:
    """What deleting and disabling an account do to the VMs, templates and ISOs it owns.

    The directory sits below the vms and templates features (they may use it, not the
    reverse), so app.py fills this in with their functions.
    """

    expunge_vms: ResourceStep
    delete_networks: ResourceStep
    delete_images: ResourceStep
    stop_vms: ResourceStep


@dataclass
class Progress:
    """Where a job's work on accounts stands: jobs still running, and what failed."""

    waiting: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, other: "Progress", prefix: str = "") -> None:
        """Count another account's progress in this one."""
        self.waiting += other.waiting
        self.failures.extend(f"{prefix}{failure}" for failure in other.failures)


@dataclass(frozen=True, slots=True)
class JobOwner:
    """Who a job runs for (its sub-jobs run for them too), and since when it runs."""

    account_id: int | None
    user_id: int | None
    domain_path: str
    since: datetime


# --- the requests: checks and immediate effects, then the job --------------------------


def queue_account_deletion(
    db: Database, caller: Caller, ref: AccountRef, *, clock: Callable[[], datetime]
) -> str:
    """Mark the account removing (keys and sessions end now) and queue its job.

    A deletion already pending answers its job; one that failed is started again.
    """
    with db.transaction() as session:
        account, _domain = members.account_to_delete(session, caller, ref)
        pending = queue.pending_job(session, account.uuid, kind=DELETE_ACCOUNT_JOB)
        if pending is not None:
            return pending.uuid
        now = clock()
        members.start_account_removal(session, account, now)
        return _enqueue(
            session,
            caller,
            kind=DELETE_ACCOUNT_JOB,
            cmd=f"{_ADMIN_CMD}.account.DeleteAccountCmd",
            payload={"account_id": account.id},
            instance=("Account", account.uuid),
            now=now,
        )


def queue_domain_deletion(
    db: Database, caller: Caller, uuid: str, *, cleanup: bool, clock: Callable[[], datetime]
) -> str:
    """Mark the domain (with cleanup: its subtree and their accounts) for removal; queue it.

    Raises:
        PermissionDeniedError: ROOT, a domain out of the caller's reach or holding their
            own account, or (for a domain admin) holding a root admin account.
        ApiError: (530, CloudStack's texts) without cleanup, children or accounts remain.
    """
    with db.transaction() as session:
        domain = get_by_uuid(session, Domain, uuid, command="deleteDomain", param="id")
        check_domain_access(caller, domain.path, domain.uuid)
        if domain.parent_id is None:
            raise PermissionDeniedError("Can't delete ROOT domain")
        if in_subtree(caller.domain_path, domain.path):
            raise PermissionDeniedError(
                f"Can't delete domain {domain.name}: the account you are calling as is in it"
            )
        pending = queue.pending_job(session, domain.uuid, kind=DELETE_DOMAIN_JOB)
        if pending is not None:
            return pending.uuid
        tree = subtree(session, domain)
        accounts = _accounts_in(session, tree)
        live = [a for a in accounts if a.removed is None]
        if not cleanup:
            _check_empty(domain, tree, live, len(accounts) - len(live))
        if not caller.is_admin and any(a.type == AccountType.ADMIN for a in live):
            raise PermissionDeniedError(
                f"Domain {domain.name} holds a root admin account: only a root admin may delete it"
            )
        now = clock()
        for each in tree:
            each.state = DomainState.INACTIVE
        for account in live:
            members.start_account_removal(session, account, now)
        return _enqueue(
            session,
            caller,
            kind=DELETE_DOMAIN_JOB,
            cmd=f"{_ADMIN_CMD}.domain.DeleteDomainCmd",
            payload={"domain_id": domain.id},
            instance=("Domain", domain.uuid),
            now=now,
        )


def queue_account_disabling(
    db: Database, caller: Caller, ref: AccountRef, *, lock: bool, clock: Callable[[], datetime]
) -> str:
    """Disable (or lock) the account now; its job stops the running VMs of a disabled one."""
    with db.transaction() as session:
        state = LOCKED if lock else DISABLED
        record = members.change_account_state(session, caller, ref, state, command="disableAccount")
        return _enqueue(
            session,
            caller,
            kind=DISABLE_ACCOUNT_JOB,
            cmd=f"{_ADMIN_CMD}.account.DisableAccountCmd",
            payload={"account_id": record.account.id},
            instance=("Account", record.account.uuid),
            now=clock(),
        )


def queue_user_disabling(
    db: Database, caller: Caller, uuid: str, *, clock: Callable[[], datetime]
) -> str:
    """Disable the user now (their keys and sessions stop working); the job answers them."""
    with db.transaction() as session:
        record = members.change_user_state(session, caller, uuid, DISABLED, command="disableUser")
        return _enqueue(
            session,
            caller,
            kind=DISABLE_USER_JOB,
            cmd=f"{_ADMIN_CMD}.user.DisableUserCmd",
            payload={"user_id": record.user.id},
            instance=("User", record.user.uuid),
            now=clock(),
        )


def _enqueue(
    session: Session,
    caller: Caller,
    *,
    kind: str,
    cmd: str,
    payload: dict[str, object],
    instance: tuple[str, str],
    now: datetime,
) -> str:
    job = queue.enqueue(
        session,
        kind=kind,
        cmd=cmd,
        payload=payload,
        now=now,
        account_id=caller.account_id,
        user_id=caller.user_id,
        instance_type=instance[0],
        instance_uuid=instance[1],
    )
    return job.uuid


def _check_empty(domain: Domain, tree: list[Domain], live: list[Account], removing: int) -> None:
    if len(tree) > 1 or live:
        raise ApiError(
            f"Delete failed on domain {domain.name} (id: {domain.uuid}); Please make sure "
            "all users and sub domains have been removed from the domain before deleting"
        )
    if removing:
        raise ApiError(f"Can't delete the domain yet because it has {removing} accounts to cleanup")


# --- the jobs' steps: each run looks at what is left and queues or waits ----------------


def job_owner(session: Session, job_id: int) -> JobOwner:
    """Who job ``job_id`` runs for, their domain's path, and when it was queued."""
    job = session.get_one(AsyncJob, job_id)
    account = session.get(Account, job.account_id) if job.account_id is not None else None
    domain = session.get(Domain, account.domain_id) if account is not None else None
    return JobOwner(job.account_id, job.user_id, domain.path if domain else "/", job.created)


def advance_account_removal(
    session: Session,
    account: Account,
    resources: AccountResources,
    owner: JobOwner,
    now: datetime,
) -> Progress:
    """Expunge the account's VMs, delete its networks, then its templates and ISOs, then it.

    Each call queues the normal job for every item that needs one and has none running,
    and reports what still runs and what failed; the account is removed only once
    nothing of it is left.
    """
    if account.state != REMOVING:
        return Progress()
    for step in (resources.expunge_vms, resources.delete_networks, resources.delete_images):
        progress = _advance(session, step, account.id, owner, now)
        if progress.waiting or progress.failures:
            return progress
    members.finish_account_removal(account)
    return Progress()


def advance_domain_removal(
    session: Session,
    domain: Domain,
    resources: AccountResources,
    owner: JobOwner,
    now: datetime,
) -> Progress:
    """Remove the accounts being removed in the subtree, then its domains, deepest first.

    A domain is removed as soon as nothing under it holds an account, so a failure in one
    branch leaves the emptied others removed.
    """
    tree = subtree(session, domain)
    progress = Progress()
    for account in _accounts_in(session, tree):
        if account.state == REMOVING:
            done = advance_account_removal(session, account, resources, owner, now)
            progress.add(done, prefix=f"account {account.account_name}: ")
    session.flush()
    for each in sorted(tree, key=lambda d: d.level, reverse=True):
        if not _accounts_in(session, subtree(session, each)):
            each.removed = now
            session.flush()
    return progress


def advance_account_disabling(
    session: Session,
    account: Account,
    resources: AccountResources,
    owner: JobOwner,
    now: datetime,
) -> Progress:
    """Stop the running VMs of a disabled account (a re-enabled one is left alone)."""
    if account.state != DISABLED:
        return Progress()
    return _advance(session, resources.stop_vms, account.id, owner, now)


def subtree(session: Session, domain: Domain) -> list[Domain]:
    """The live domain and every live domain below it."""
    return list(
        session.scalars(
            select(Domain).where(Domain.path.startswith(domain.path), Domain.removed.is_(None))
        )
    )


def user_of(session: Session, user_id: int, owner: JobOwner) -> UserRecord:
    """The user a disableUser job answers, as its caller sees them."""
    user = session.get_one(User, user_id)
    return members.user_record(session, user, viewer_domain_path=owner.domain_path)


def _accounts_in(session: Session, tree: list[Domain]) -> list[Account]:
    """The accounts of these domains that are live or still being removed."""
    ids = [d.id for d in tree]
    return list(
        session.scalars(
            select(Account)
            .where(
                Account.domain_id.in_(ids),
                (Account.removed.is_(None)) | (Account.state == REMOVING),
            )
            .order_by(Account.id)
        )
    )


def _advance(
    session: Session, step: ResourceStep, account_id: int, owner: JobOwner, now: datetime
) -> Progress:
    progress = Progress()
    for uuid, label in step.find(session, account_id):
        if queue.pending_job(session, uuid) is not None:
            progress.waiting += 1
            continue
        last = queue.latest_job(session, kind=step.job_kind, instance_uuid=uuid, since=owner.since)
        if last is not None and last.job_status == JobStatus.FAILED:
            reason = queue.failure_text(last)
            progress.failures.append(f"{label} ({uuid}) could not be {step.failed_verb}: {reason}")
            continue
        try:
            step.queue(session, uuid, account_id=owner.account_id, user_id=owner.user_id, now=now)
        except ApiError as exc:
            # Refused as it stands (a VM in a state nothing may act on): say so, go on.
            progress.failures.append(
                f"{label} ({uuid}) could not be {step.failed_verb}: {exc.message}"
            )
            continue
        progress.waiting += 1
    return progress
