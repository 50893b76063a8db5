"""Seal plaintext secrets and re-seal those under older keys, one transaction per table."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.models import User
from kvmcloud.server.db import Database
from kvmcloud.server.infrastructure.models import Host, StoragePool
from kvmcloud.server.sealing.box import (
    SecretBox,
    agent_key_context,
    agent_key_digest,
    header_context,
    is_sealed,
    pool_secret_context,
    user_secret_context,
)
from kvmcloud.server.templates.details import HTTP_HEADER_PREFIX, is_header_detail
from kvmcloud.server.templates.models import Template, TemplateDetail


@dataclass(frozen=True, slots=True)
class Resealed:
    """How many values of each kind were (re-)sealed; all zero when nothing was left to do."""

    secret_keys: int
    agent_keys: int
    headers: int
    pool_secrets: int = 0

    @property
    def total(self) -> int:
        """All values written."""
        return self.secret_keys + self.agent_keys + self.headers + self.pool_secrets


def seal_all(db: Database, box: SecretBox) -> Resealed:
    """Seal every secret that is in clear or under an older key with the box's current key.

    Idempotent: values already under the current key are skipped, so a run interrupted by a
    crash is finished by the next one. Runs after every schema upgrade (the data step of
    migration 0006) and by ``kvmcloud-server rotate-key``.

    Raises:
        SealedValueError: a value is sealed under a key the box lacks, or does not open.
    """
    done = Resealed(
        secret_keys=_seal_secret_keys(db, box),
        agent_keys=_seal_agent_keys(db, box),
        headers=_seal_headers(db, box),
        pool_secrets=_seal_pool_secrets(db, box),
    )
    if done.total:
        db.checkpoint()
    return done


def count_not_current(db: Database, box: SecretBox) -> int:
    """Count the secrets not sealed under the box's current key (0 before retiring a key)."""
    with db.transaction() as session:
        values = [*session.scalars(select(User.secret_key).where(User.secret_key.is_not(None)))]
        values += session.scalars(select(Host.agent_key))
        values += [value for _, _, value in _header_rows(session)]
        values += session.scalars(select(StoragePool.secret).where(StoragePool.secret.is_not(None)))
    return sum(1 for value in values if value is not None and not box.is_current(value))


def _reseal(box: SecretBox, value: str, context: str) -> tuple[str, str] | None:
    """Return (plaintext, value sealed under the current key), or None if already current."""
    if box.is_current(value):
        return None
    plaintext = box.open(value, context) if is_sealed(value) else value
    return plaintext, box.seal(plaintext, context)


def _seal_secret_keys(db: Database, box: SecretBox) -> int:
    done = 0
    with db.transaction() as session:
        for user in session.scalars(select(User).where(User.secret_key.is_not(None))):
            assert user.secret_key is not None
            resealed = _reseal(box, user.secret_key, user_secret_context(user.uuid))
            if resealed is not None:
                user.secret_key = resealed[1]
                done += 1
    return done


def _seal_agent_keys(db: Database, box: SecretBox) -> int:
    done = 0
    with db.transaction() as session:
        # Removed hosts too: their old keys are still credentials an agent may hold.
        for host in session.scalars(select(Host)):
            context = agent_key_context(host.uuid)
            resealed = _reseal(box, host.agent_key, context)
            if resealed is not None:
                plaintext, host.agent_key = resealed
                host.agent_key_digest = agent_key_digest(plaintext)
                done += 1
            elif host.agent_key_digest is None:
                host.agent_key_digest = agent_key_digest(box.open(host.agent_key, context))
    return done


def _seal_headers(db: Database, box: SecretBox) -> int:
    done = 0
    with db.transaction() as session:
        for detail, template_uuid, value in _header_rows(session):
            resealed = _reseal(box, value, header_context(template_uuid, detail.name))
            if resealed is not None:
                detail.value = resealed[1]
                done += 1
    return done


def _seal_pool_secrets(db: Database, box: SecretBox) -> int:
    done = 0
    with db.transaction() as session:
        # Removed pools too: the key may still be valid on the cluster.
        for pool in session.scalars(select(StoragePool).where(StoragePool.secret.is_not(None))):
            assert pool.secret is not None
            resealed = _reseal(box, pool.secret, pool_secret_context(pool.uuid))
            if resealed is not None:
                pool.secret = resealed[1]
                done += 1
    return done


def _header_rows(session: Session) -> list[tuple[TemplateDetail, str, str]]:
    rows = session.execute(
        select(TemplateDetail, Template.uuid)
        .join(Template, Template.id == TemplateDetail.template_id)
        .where(func.upper(TemplateDetail.name).startswith(HTTP_HEADER_PREFIX, autoescape=True))
    )
    return [(detail, uuid, detail.value) for detail, uuid in rows if is_header_detail(detail.name)]
