"""CloudMonkey 5.3.3.1 (Python 2.7, from ``make cloudmonkey``) run as a real process.

Usage::

    binary = cloudmonkey_or_skip()                 # skips locally, fails in CI, without it
    config = write_config(tmp_path, url, "admin", password)
    result = run_once(binary, config, "list", "zones")   # one command, one process
    with CloudMonkeyShell(binary, config) as shell:      # one process, one login session
        zones = json_output(shell.send("list zones"))

Each run gets ``HOME`` in the config's folder (CloudMonkey creates ``~/.cloudmonkey``) and
none of our Python's variables. The shell is CloudMonkey's interactive loop fed one line at
a time, as a person types; its answer to a line is everything it prints until its next prompt.
"""

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.support.processes import base_env
from tests.support.required import in_ci

VENV = Path(__file__).resolve().parents[2] / ".venv-cloudmonkey"
# Written by scripts/install-cloudmonkey when it found no Python 2.7: the reason to skip.
UNAVAILABLE = VENV / ".unavailable"
# CloudMonkey's default profile ("local"), as a new user has it after the first start.
PROFILE = "local"
PROMPT = f"({PROFILE}) cmk> "
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
LINE_TIMEOUT_S = 60.0
# A few messages (sync's) are coloured whatever the config says.
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def cloudmonkey_or_skip() -> Path:
    """Return the ``cloudmonkey`` program of .venv-cloudmonkey; skip without it, fail in CI."""
    binary = VENV / "bin" / "cloudmonkey"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    if UNAVAILABLE.is_file():
        reason = UNAVAILABLE.read_text().strip()
    else:
        reason = f"{binary} is missing: run make cloudmonkey"
    if in_ci():
        pytest.fail(f"CloudMonkey is required in CI: {reason}")
    pytest.skip(f"CloudMonkey unavailable: {reason}")


def write_config(
    directory: Path,
    url: str,
    username: str,
    password: str,
    *,
    domain: str = "/",
    async_timeout_s: int = 300,
) -> Path:
    """Write a config whose default profile logs in with ``username`` and ``password``.

    No API keys: CloudMonkey then opens a login session (POST login, cookie and sessionkey).
    JSON output without colours, and an ASCII prompt, so tests can read what it prints.
    """

    def value(text: str) -> str:
        # CloudMonkey reads the file with ConfigParser, which expands %(name)s.
        return text.replace("%", "%%")

    home = directory / "home"
    home.mkdir(exist_ok=True)
    config = directory / "cloudmonkey.cfg"
    config.write_text(
        "[core]\n"
        f"profile = {PROFILE}\n"
        "asyncblock = true\n"
        "paramcompletion = false\n"
        f"cache_file = {home / 'cache'}\n"
        f"history_file = {home / 'history'}\n"
        f"log_file = {home / 'log'}\n"
        "\n"
        "[ui]\n"
        "color = false\n"
        "display = json\n"
        "prompt = cmk>\n"
        "\n"
        f"[{PROFILE}]\n"
        f"url = {value(url)}\n"
        f"username = {value(username)}\n"
        f"password = {value(password)}\n"
        f"domain = {value(domain)}\n"
        "apikey =\n"
        "secretkey =\n"
        f"timeout = {async_timeout_s}\n"
        "expires = 600\n"
        "verifysslcert = true\n"
        "signatureversion = 3\n"
    )
    return config


def environment(config: Path) -> dict[str, str]:
    """CloudMonkey's environment: its own HOME, unbuffered output, none of our Python's paths."""
    env = {
        k: v
        for k, v in base_env().items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    # TERM=dumb: readline writes no terminal escapes into the output.
    return env | {"HOME": str(config.parent / "home"), "PYTHONUNBUFFERED": "1", "TERM": "dumb"}


def run_once(
    binary: Path, config: Path, *command: str, timeout_s: float = LINE_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run ``cloudmonkey -c CONFIG COMMAND…`` (one command, then exit) and capture its output."""
    return subprocess.run(
        [str(binary), "-c", str(config), *command],
        env=environment(config),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def json_output(text: str) -> dict[str, Any]:
    """The JSON document in what CloudMonkey printed for one command (display = json).

    A blocking async command prints a spinner before it; nothing else should be there.
    """
    start, end = text.find("{"), text.rfind("}")
    assert 0 <= start < end, f"no JSON in CloudMonkey's output: {text!r}"
    assert "Error" not in text[:start], f"CloudMonkey printed an error: {text!r}"
    document: dict[str, Any] = json.loads(text[start : end + 1])
    return document


class CloudMonkeyShell:
    """CloudMonkey's interactive shell in a process, fed one line at a time."""

    def __init__(self, binary: Path, config: Path) -> None:
        self.binary = binary
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self._output = bytearray()
        self._read_to = 0
        self._closed = False
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None

    def __enter__(self) -> "CloudMonkeyShell":
        self.process = subprocess.Popen(
            [str(self.binary), "-c", str(self.config)],
            env=environment(self.config),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._until_prompt(START_TIMEOUT_S)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._stop()

    def send(self, line: str, timeout_s: float = LINE_TIMEOUT_S) -> str:
        """Type ``line``; return what CloudMonkey printed before its next prompt, uncoloured."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()
        return self._until_prompt(timeout_s)

    def close(self) -> str:
        """End input (CloudMonkey logs out and exits on EOF); return what it printed last."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.close()
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_S)
        finally:
            self._stop()
        rest = self._output[self._read_to :].decode("utf-8", "replace")
        assert code == 0, f"cloudmonkey exited with {code}: {rest}"
        return rest

    def transcript(self) -> str:
        """Everything printed so far (for failure messages)."""
        with self._changed:
            return self._output.decode("utf-8", "replace")

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while chunk := os.read(fd, 65536):
            with self._changed:
                self._output += chunk
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _until_prompt(self, timeout_s: float) -> str:
        prompt = PROMPT.encode()
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while (found := self._output.find(prompt, self._read_to)) < 0:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    why = "exited" if self._closed else f"gave no prompt within {timeout_s} s"
                    raise AssertionError(f"cloudmonkey {why}:\n{self.transcript()}")
                self._changed.wait(left)
            answer = self._output[self._read_to : found].decode("utf-8", "replace")
            self._read_to = found + len(prompt)
        return _COLOUR.sub("", answer)

    def _stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        if self._reader is not None:
            self._reader.join(timeout=STOP_TIMEOUT_S)
        if self.process.stdout is not None:
            self.process.stdout.close()
