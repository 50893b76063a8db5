"""Create, list and rename domains of the tree under ROOT (CloudStack's DomainManager)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import AccountType, Domain, DomainState
from kvmcloud.server.accounts.visibility import check_domain_access
from kvmcloud.server.db import Database
from kvmcloud.server.directory.records import DomainRecord
from kvmcloud.server.errors import ApiError, InvalidParameterError
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import get_by_uuid, list_window, paged

ROOT_PATH = "/"


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainFilter:
    """What listDomains and listDomainChildren were asked for."""

    uuid: str | None = None
    name: str | None = None
    level: int | None = None
    keyword: str | None = None
    list_all: bool = False
    is_recursive: bool = False


def check_name(name: str, param: str = "name") -> str:
    """A domain name becomes part of paths: it may not be blank or hold a slash."""
    if not name.strip() or "/" in name:
        raise InvalidParameterError(
            param, f"Invalid parameter {param}: a domain name may not be blank or contain /"
        )
    return name


def create_domain(
    db: Database,
    caller: Caller,
    *,
    name: str,
    parent_uuid: str | None,
    network_domain: str | None,
    clock: Callable[[], datetime],
) -> DomainRecord:
    """Create a child of ``parent_uuid`` (ROOT by default); names are unique among siblings.

    Raises:
        InvalidParameterError: a bad name, or a sibling already has it (CloudStack's text).
    """
    del clock  # domains carry no creation time in CloudStack's response
    check_name(name)
    with db.transaction() as session:
        parent = (
            get_by_uuid(
                session, Domain, parent_uuid, command="createDomain", param="parentdomainid"
            )
            if parent_uuid
            else _root(session)
        )
        check_domain_access(caller, parent.path, parent.uuid)
        if parent.state == DomainState.INACTIVE:
            raise ApiError(
                f"The domain cannot be created as the parent domain {parent.name} is being deleted"
            )
        _check_no_sibling(session, parent, name)
        domain = Domain(
            name=name,
            path=f"{parent.path}{name}/",
            parent_id=parent.id,
            level=parent.level + 1,
            network_domain=network_domain,
        )
        session.add(domain)
        session.flush()
        return DomainRecord(domain, parent, has_child=False)


def list_domains(
    db: Database, caller: Caller, page: PageRequest, wanted: DomainFilter, *, children: bool
) -> tuple[list[DomainRecord], int]:
    """ListDomains (``children`` false) or listDomainChildren (true), as CloudStack scopes them.

    listDomains gives the caller's domain, or with ``listall`` its subtree; an ``id`` gives
    that domain, which must be in the caller's reach. listDomainChildren gives the
    children of ``id`` (the caller's domain by default), all descendants with
    ``isrecursive`` (or ``listall`` without an id). A plain user's reach is their own
    domain: they see no children.
    """
    with db.transaction() as session:
        if wanted.uuid:
            command = "listDomainChildren" if children else "listDomains"
            base = get_by_uuid(session, Domain, wanted.uuid, command=command, param="id")
            _check_reach(caller, base)
            recursive = wanted.is_recursive
        else:
            base = session.get_one(Domain, caller.domain_id)
            recursive = wanted.list_all or wanted.is_recursive
        if not caller.is_admin and caller.account_type != AccountType.DOMAIN_ADMIN:
            recursive = False
            if children:
                return [], 0
        query = select(Domain).where(Domain.removed.is_(None))
        if children:
            query = query.where(
                Domain.path.startswith(base.path) if recursive else Domain.parent_id == base.id,
                Domain.id != base.id,
            )
        elif recursive:
            query = query.where(Domain.path.startswith(base.path))
        else:
            query = query.where(Domain.id == base.id)
        if wanted.name:
            query = query.where(Domain.name == wanted.name)
        if wanted.level is not None:
            query = query.where(Domain.level == wanted.level)
        if wanted.keyword:
            query = query.where(Domain.name.contains(wanted.keyword))
        rows, total = paged(session, query.order_by(Domain.path), list_window(session, page))
        return [_record(session, d) for d in rows], total


def update_domain(
    db: Database, caller: Caller, uuid: str, *, name: str | None, network_domain: str | None
) -> DomainRecord:
    """Rename a domain (rewriting the paths of its whole subtree) or set its network domain.

    Raises:
        InvalidParameterError: ROOT renamed, a bad name, or a sibling has the name.
    """
    with db.transaction() as session:
        domain = get_by_uuid(session, Domain, uuid, command="updateDomain", param="id")
        check_domain_access(caller, domain.path, domain.uuid)
        if name is not None and name != domain.name:
            if domain.parent_id is None:
                raise InvalidParameterError("name", "ROOT domain can not be edited with a new name")
            check_name(name)
            parent = session.get_one(Domain, domain.parent_id)
            _check_no_sibling(session, parent, name)
            old_path, new_path = domain.path, f"{parent.path}{name}/"
            # Every descendant's path starts with the renamed one: rewrite the prefix.
            session.execute(
                update(Domain)
                .where(Domain.path.startswith(old_path), Domain.removed.is_(None))
                .values(path=new_path + func.substr(Domain.path, len(old_path) + 1))
                .execution_options(synchronize_session=False)
            )
            session.refresh(domain)
            domain.name = name
        if network_domain is not None:
            domain.network_domain = network_domain or None
        session.flush()
        return _record(session, domain)


def check_active(domain: Domain, what: str) -> None:
    """Refuse (CloudStack's 530 text) to create ``what`` in a domain being deleted."""
    if domain.state == DomainState.INACTIVE:
        raise ApiError(f"{what} cannot be created as domain {domain.name} is being deleted")


def domain_of(session: Session, caller: Caller, uuid: str, *, command: str) -> Domain:
    """The live domain ``uuid`` names, if the caller manages it (431 unknown, 531 out of reach)."""
    domain = get_by_uuid(session, Domain, uuid, command=command, param="domainid")
    check_domain_access(caller, domain.path, domain.uuid)
    return domain


def _root(session: Session) -> Domain:
    return session.scalars(
        select(Domain).where(Domain.path == ROOT_PATH, Domain.removed.is_(None))
    ).one()


def _check_reach(caller: Caller, domain: Domain) -> None:
    # Users may look at their own domain; admins at what they manage.
    if caller.domain_id == domain.id:
        return
    check_domain_access(caller, domain.path, domain.uuid)


def _check_no_sibling(session: Session, parent: Domain, name: str) -> None:
    taken = session.scalars(
        select(Domain.id).where(
            Domain.parent_id == parent.id, Domain.name == name, Domain.removed.is_(None)
        )
    ).first()
    if taken is not None:
        raise InvalidParameterError(
            "name", f"Domain with name {name} already exists for the parent id={parent.uuid}"
        )


def _record(session: Session, domain: Domain) -> DomainRecord:
    parent = session.get(Domain, domain.parent_id) if domain.parent_id else None
    has_child = session.scalars(
        select(Domain.id).where(Domain.parent_id == domain.id, Domain.removed.is_(None))
    ).first()
    return DomainRecord(domain, parent, has_child=has_child is not None)
