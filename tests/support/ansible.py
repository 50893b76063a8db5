"""Ansible 11.13.0 (``make ansible``) runs playbooks of ngine_io.cloudstack against kvmcloud.

Usage::

    playbook_bin = ansible_playbook_or_skip()     # skips locally, fails in CI, without it
    result = run_playbook(playbook_bin, tmp_path, tasks, CloudStackKeys(url, key, secret))
    result.task("register").module_result["id"]

The playbook runs on the implicit localhost with the local connection, so the modules run
under .venv-ansible's own Python, where ``cs`` is installed. The API keys reach the modules
as the collection documents: the ``CLOUDSTACK_ENDPOINT``/``KEY``/``SECRET`` variables. The
json stdout callback makes the run's results readable; each run gets its own ``HOME`` and
Ansible directories, and no kvmcloud or Ansible variables of ours.
"""

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import base_env
from tests.support.required import in_ci

VENV = Path(__file__).resolve().parents[2] / ".venv-ansible"
PLAYBOOK_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class CloudStackKeys:
    """Where the modules send their API calls, and the keys they sign them with."""

    endpoint: str
    api_key: str
    secret_key: str


@dataclass(frozen=True)
class TaskResult:
    """One task's outcome on localhost, as the json callback reports it."""

    name: str
    module_result: dict[str, Any]

    @property
    def changed(self) -> bool:
        return bool(self.module_result.get("changed"))

    @property
    def failed(self) -> bool:
        return bool(self.module_result.get("failed"))


@dataclass(frozen=True)
class PlaybookRun:
    """An ``ansible-playbook`` run: its exit status, its output and its tasks' results."""

    returncode: int
    stdout: str
    stderr: str
    tasks: list[TaskResult]

    def task(self, name: str) -> TaskResult:
        (found,) = [t for t in self.tasks if t.name == name]
        return found

    def explain(self) -> str:
        """What a failed assertion shows: every failed task's message, else the raw output."""
        failures = [f"{t.name}: {t.module_result.get('msg')}" for t in self.tasks if t.failed]
        return "\n".join(failures) or f"{self.stdout[-4000:]}\n{self.stderr[-4000:]}"


def ansible_playbook_or_skip() -> Path:
    """Return .venv-ansible's ``ansible-playbook``; skip without it, fail in CI."""
    binary = VENV / "bin" / "ansible-playbook"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    reason = f"{binary} is missing: run make ansible"
    if in_ci():
        pytest.fail(f"Ansible is required in CI: {reason}")
    pytest.skip(f"Ansible unavailable: {reason}")


def run_playbook(
    binary: Path, workdir: Path, tasks: list[dict[str, Any]], keys: CloudStackKeys
) -> PlaybookRun:
    """Run ``tasks`` as one play on localhost; the JSON playbook is valid YAML."""
    workdir.mkdir(parents=True, exist_ok=True)
    playbook = workdir / "playbook.yml"
    play = {"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}
    playbook.write_text(json.dumps([play], indent=2))
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in base_env().items()
        if not k.startswith(("ANSIBLE_", "CLOUDSTACK_", "PYTHON", "VIRTUAL_ENV"))
    } | {
        "HOME": str(home),
        "ANSIBLE_HOME": str(home / ".ansible"),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_NOCOLOR": "true",
        "CLOUDSTACK_ENDPOINT": keys.endpoint,
        "CLOUDSTACK_KEY": keys.api_key,
        "CLOUDSTACK_SECRET": keys.secret_key,
        # The modules' default, 10 s per request, is short on a loaded CI machine.
        "CLOUDSTACK_TIMEOUT": "60",
    }
    result = subprocess.run(
        [str(binary), str(playbook)],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=PLAYBOOK_TIMEOUT_S,
    )
    return PlaybookRun(result.returncode, result.stdout, result.stderr, _tasks(result.stdout))


def _tasks(stdout: str) -> list[TaskResult]:
    """The tasks' results on localhost from the json callback's output (none if unreadable)."""
    try:
        report = json.loads(stdout[stdout.index("{") :])
    except ValueError:
        return []
    return [
        TaskResult(task["task"]["name"], task["hosts"]["localhost"])
        for play in report["plays"]
        for task in play["tasks"]
        if "localhost" in task["hosts"]
    ]
