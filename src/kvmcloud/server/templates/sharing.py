"""Template and ISO permissions: public, featured, extractable, and launch permissions."""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.access import check_owner
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account, AccountType, Domain
from kvmcloud.server.accounts.owners import live_account, owner_path_for
from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError, PermissionDeniedError
from kvmcloud.server.queries import get_by_uuid
from kvmcloud.server.templates.listing import is_shared_with
from kvmcloud.server.templates.models import ImageFormat, LaunchPermission, Template
from kvmcloud.server.templates.records import Permissions


class Operation(StrEnum):
    """updateTemplatePermissions' op on ``accounts``."""

    ADD = "add"
    REMOVE = "remove"
    RESET = "reset"


@dataclass(frozen=True, slots=True, kw_only=True)
class PermissionChanges:
    """What an updateTemplatePermissions/updateIsoPermissions call sets."""

    public: bool | None = None
    featured: bool | None = None
    extractable: bool | None = None
    account_names: Sequence[str] | None = None
    operation: str | None = None


def update_permissions(
    db: Database,
    *,
    caller: Caller,
    command: str,
    template_uuid: str,
    iso: bool,
    changes: PermissionChanges,
) -> None:
    """Apply CloudStack's updateTemplatePermissions rules.

    Raises:
        NotFoundError: no such live template (ISO) (431).
        InvalidParameterError: CloudStack's refusals (431): a bad ``op``, ``op`` without
            accounts, an account not in the owner's domain, ``isextractable`` on a template
            from a caller that is not a root admin.
        PermissionDeniedError: not the caller's template, or ``isfeatured`` from a caller
            that is not an admin (531).
    """
    media = "iso" if iso else "template"
    with db.transaction() as session:
        template = _image(session, template_uuid, command=command, iso=iso)
        check_owner(
            caller,
            template.account_id,
            f"{media} {template_uuid}",
            owner_path_for(session, caller, template.account_id),
        )
        operation = _operation(changes)
        is_admin = caller.is_admin or caller.account_type == AccountType.DOMAIN_ADMIN
        if changes.featured is not None and not is_admin:
            raise PermissionDeniedError(
                "Parameter isfeatured can only be specified by an Admin, permission denied"
            )
        if changes.extractable is not None and not iso and not caller.is_admin:
            raise InvalidParameterError(
                "isextractable", "Only ROOT admins are allowed to modify isExtractable attribute."
            )
        if operation in (Operation.ADD, Operation.REMOVE) and changes.account_names is None:
            raise InvalidParameterError(
                "accounts", f"Operation {operation} requires accounts or projectIds to be passed in"
            )
        if changes.public is not None:
            template.public = changes.public
        if changes.featured is not None:
            template.featured = changes.featured
        if changes.extractable is not None:
            template.extractable = changes.extractable
        owner = session.get(Account, template.account_id)
        assert owner is not None
        domain = session.get(Domain, owner.domain_id)
        assert domain is not None
        if operation == Operation.ADD:
            _add(session, template, domain, changes.account_names or (), caller)
        elif operation == Operation.REMOVE:
            ids = [
                account.id
                for name in changes.account_names or ()
                if (account := live_account(session, domain.id, name)) is not None
            ]
            session.execute(
                delete(LaunchPermission).where(
                    LaunchPermission.template_id == template.id,
                    LaunchPermission.account_id.in_(ids),
                )
            )
        elif operation == Operation.RESET:
            template.public = False
            template.featured = False
            session.execute(
                delete(LaunchPermission).where(LaunchPermission.template_id == template.id)
            )


def list_permissions(
    db: Database, *, caller: Caller, command: str, template_uuid: str, iso: bool
) -> Permissions:
    """The accounts a template (ISO) is shared with; its owner too while it is private."""
    media = "iso" if iso else "template"
    with db.transaction() as session:
        template = _image(session, template_uuid, command=command, iso=iso)
        # As CloudStack's checkAccess: an account it is shared with may look too.
        if not template.public and not is_shared_with(session, template.id, caller.account_id):
            check_owner(
                caller,
                template.account_id,
                f"{media} {template_uuid}",
                owner_path_for(session, caller, template.account_id),
            )
        names = list(
            session.scalars(
                select(Account.account_name)
                .join(LaunchPermission, LaunchPermission.account_id == Account.id)
                .where(LaunchPermission.template_id == template.id)
                .order_by(LaunchPermission.id)
            )
        )
        owner = session.get(Account, template.account_id)
        if not template.public and owner is not None:
            names.append(owner.account_name)
        domain = session.get(Domain, owner.domain_id) if owner is not None else None
        return Permissions(template, domain, names)


def _image(session: Session, uuid: str, *, command: str, iso: bool) -> Template:
    template = get_by_uuid(session, Template, uuid, command=command, param="id")
    if (template.format == ImageFormat.ISO) != iso:
        raise InvalidParameterError("id", f"Please provide a valid {'iso' if iso else 'template'}")
    return template


def _operation(changes: PermissionChanges) -> Operation | None:
    if changes.operation is None and changes.account_names is None:
        return None
    try:
        return Operation((changes.operation or "").strip().lower())
    except ValueError:
        raise InvalidParameterError(
            "op",
            "Invalid operation on accounts, the operation must be either 'add' or 'remove' in "
            f"order to modify launch permissions.  Given operation is: '{changes.operation}'",
        ) from None


def _add(
    session: Session, template: Template, domain: Domain, names: Sequence[str], caller: Caller
) -> None:
    """Grant launch permissions to accounts of the owner's domain: all of them, or none."""
    for name in names:
        account = live_account(session, domain.id, name)
        if account is None:
            raise InvalidParameterError(
                "accounts",
                f"Unable to grant a launch permission to account {name} in domain id="
                f"{domain.uuid}, account not found.  No permissions updated, please verify the "
                "account names and retry.",
            )
        # The owner may launch it anyway; CloudStack skips the caller the same way.
        if account.id in (caller.account_id, template.account_id):
            continue
        if not is_shared_with(session, template.id, account.id):
            session.add(LaunchPermission(template_id=template.id, account_id=account.id))
            session.flush()
