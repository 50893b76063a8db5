"""Running a test database's programs as its own system user, as root-averse servers need."""

import os
import pwd
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class RunAs:
    """Whom to run a server's programs as: None keeps the current user."""

    uid: int | None = None
    gid: int | None = None


def choose_run_as(
    os_user: str, *, refuses: str, package: str, unavailable: Callable[[str], Exception]
) -> RunAs:
    """The current user, or ``os_user`` when running as root (which ``refuses`` refuses).

    Raises:
        what ``unavailable`` makes: root, and no such user.
    """
    if os.geteuid() != 0:
        return RunAs()
    try:
        entry = pwd.getpwnam(os_user)
    except KeyError:
        raise unavailable(
            f"running as root, which {refuses} refuses, and there is no {os_user!r} user to "
            f"run it as; install the {package} package or run the tests unprivileged"
        ) from None
    return RunAs(uid=entry.pw_uid, gid=entry.pw_gid)


def run_program(
    argv: list[str],
    *,
    run_as: RunAs,
    cwd: Path | None,
    timeout_s: float,
    failed: Callable[[str], Exception],
    log_tail: Callable[[], str],
) -> None:
    """Run ``argv`` as ``run_as`` to completion; a timeout or non-zero exit raises ``failed``.

    subprocess switches uid/gid itself (as setpriv does) and drops root's extra groups, so
    no runuser/PAM session is needed.
    """
    try:
        completed = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            user=run_as.uid,
            group=run_as.gid,
            extra_groups=None if run_as.uid is None else [],
        )
    except subprocess.TimeoutExpired as exc:
        raise failed(
            f"{Path(argv[0]).name} did not finish within {timeout_s:g} s\n{log_tail()}"
        ) from exc
    if completed.returncode != 0:
        raise failed(
            f"{' '.join(argv)} exited with {completed.returncode}\n"
            f"{completed.stdout}{completed.stderr}{log_tail()}"
        )


def log_tail(path: Path | None, lines: int = 40) -> str:
    """The last ``lines`` of a server's log, headed, or "" when there is none yet."""
    if path is None or not path.exists():
        return ""
    tail = path.read_text(errors="replace").splitlines()[-lines:]
    return "server log:\n" + "\n".join(tail)
