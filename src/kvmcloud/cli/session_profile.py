"""SessionProfile: the CLI's login session (cookie and sessionkey), kept in a 0600 file."""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kvmcloud.private_files import replace_private_file

SESSION_FILE_VAR = "KVMCLOUD_SESSION_FILE"
_FIELDS = ("url", "username", "session_id", "session_key")


class ProfileError(ValueError):
    """The session file exists but cannot be read as a session profile."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionProfile:
    """A login session of one user at one endpoint: what ``kvmcloud login`` keeps."""

    url: str
    username: str
    # JSESSIONID cookie and sessionkey parameter: both needed on every request.
    session_id: str = field(repr=False)
    session_key: str = field(repr=False)


def profile_path(environ: Mapping[str, str]) -> Path:
    """``$KVMCLOUD_SESSION_FILE``, else ``$XDG_CONFIG_HOME/kvmcloud/session.json`` (~/.config)."""
    given = environ.get(SESSION_FILE_VAR)
    if given:
        return Path(given)
    config = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(config).expanduser() / "kvmcloud" / "session.json"


def load_profile(path: Path) -> SessionProfile | None:
    """The saved session, or None when there is none.

    Raises:
        ProfileError: the file is unreadable or not a session profile.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise ProfileError(f"{path} is not a kvmcloud session file") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in _FIELDS):
        raise ProfileError(f"{path} is not a kvmcloud session file")
    return SessionProfile(**{k: data[k] for k in _FIELDS})


def save_profile(path: Path, profile: SessionProfile) -> None:
    """Write the session, readable by its owner only (its directory made 0700 if new)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = {k: getattr(profile, k) for k in _FIELDS}
    replace_private_file(path, json.dumps(data) + "\n")


def remove_profile(path: Path) -> bool:
    """Forget the session; tell whether there was one."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
