"""Enrollment state on disk: the enrolment token and its age, the server's key; private files."""

import json
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from kvmcloud.private_files import replace_private_file

logger = logging.getLogger(__name__)

ENROLLMENT_FILE_NAME = "enrollment.json"
TOKEN_FILE_NAME = "enroll-token.json"  # noqa: S105 - a file name, not a secret
_TOKEN_BYTES = 32


class EnrollmentStateError(Exception):
    """The state directory or a file in it cannot be read or written."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrollment:
    """Which server this agent belongs to, as whom, and the key both sides use."""

    host_uuid: str
    host_key: str
    server_url: str

    def __repr__(self) -> str:
        return (
            f"Enrollment(host_uuid={self.host_uuid!r}, host_key='***', "
            f"server_url={self.server_url!r})"
        )


def ensure_state_dir(state_dir: Path) -> None:
    """Create the state directory (mode 0700) if needed.

    Raises:
        EnrollmentStateError: it cannot be created.
    """
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise EnrollmentStateError(f"cannot create state directory {state_dir}: {exc}") from exc


def write_private_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable by the owner only (0600).

    Raises:
        EnrollmentStateError: the file cannot be written.
    """
    try:
        replace_private_file(path, text)
    except OSError as exc:
        raise EnrollmentStateError(f"cannot write {path}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class StoredToken:
    """The enrolment token's secret part and when it was made (epoch seconds)."""

    secret: str = field(repr=False)
    created_s: float


def create_enroll_token(state_dir: Path, now_s: float) -> StoredToken:
    """Make a new enrolment token, replacing any earlier one (which stops working).

    Raises:
        EnrollmentStateError: the state directory is unusable.
    """
    token = StoredToken(secret=secrets.token_urlsafe(_TOKEN_BYTES), created_s=now_s)
    save_enroll_token(state_dir, token)
    return token


def save_enroll_token(state_dir: Path, token: StoredToken) -> None:
    """Keep ``token`` as the enrolment token (0600), replacing any earlier one.

    Raises:
        EnrollmentStateError: the state directory is unusable.
    """
    ensure_state_dir(state_dir)
    text = json.dumps({"secret": token.secret, "created_s": token.created_s})
    write_private_file(state_dir / TOKEN_FILE_NAME, text)


def load_enroll_token(state_dir: Path) -> StoredToken | None:
    """Return the current enrolment token, or None when there is none (or it is damaged).

    Raises:
        EnrollmentStateError: the file exists but cannot be read.
    """
    path = state_dir / TOKEN_FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        logger.warning("%s is damaged: enrolment is refused until a new token is made", path)
        return None
    except OSError as exc:
        raise EnrollmentStateError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        return None
    secret, created_s = data.get("secret"), data.get("created_s")
    if not isinstance(secret, str) or not secret or not isinstance(created_s, int | float):
        return None
    return StoredToken(secret=secret, created_s=float(created_s))


def load_or_create_enroll_token(state_dir: Path, now_s: float) -> tuple[StoredToken, bool]:
    """Return the token kept in the state dir, making one first if there is none.

    The second value is True when the token was made just now.

    Raises:
        EnrollmentStateError: the state directory is unusable.
    """
    ensure_state_dir(state_dir)
    token = load_enroll_token(state_dir)
    if token is not None:
        return token, False
    return create_enroll_token(state_dir, now_s), True


def remove_enroll_token(state_dir: Path) -> None:
    """Remove the enrolment token: it was used (a missing one is fine).

    Raises:
        EnrollmentStateError: it cannot be removed.
    """
    path = state_dir / TOKEN_FILE_NAME
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise EnrollmentStateError(f"cannot remove {path}: {exc}") from exc


def forget_enrollment(state_dir: Path) -> None:
    """Remove the saved enrolment (the host key and server URL); a missing one is fine.

    Raises:
        EnrollmentStateError: it cannot be removed.
    """
    path = state_dir / ENROLLMENT_FILE_NAME
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise EnrollmentStateError(f"cannot remove {path}: {exc}") from exc


def save_enrollment(state_dir: Path, enrollment: Enrollment) -> None:
    """Persist ``enrollment`` so a restarted agent resumes heartbeating.

    Raises:
        EnrollmentStateError: it cannot be written.
    """
    ensure_state_dir(state_dir)
    text = json.dumps(
        {
            "host_uuid": enrollment.host_uuid,
            "host_key": enrollment.host_key,
            "server_url": enrollment.server_url,
        }
    )
    write_private_file(state_dir / ENROLLMENT_FILE_NAME, text)


def load_enrollment(state_dir: Path) -> Enrollment | None:
    """Return the saved enrollment, or None if this agent was never enrolled.

    Raises:
        EnrollmentStateError: the file exists but cannot be read or understood.
    """
    path = state_dir / ENROLLMENT_FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise EnrollmentStateError(f"cannot read {path}: {exc}") from exc
    fields = ("host_uuid", "host_key", "server_url")
    if not isinstance(data, dict) or not all(isinstance(data.get(f), str) for f in fields):
        raise EnrollmentStateError(f"{path} does not hold {', '.join(fields)}")
    return Enrollment(
        host_uuid=data["host_uuid"], host_key=data["host_key"], server_url=data["server_url"]
    )
