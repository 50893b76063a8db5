"""ManagedProcess and Stack: kvmcloud-server and kvmcloud-agent as real processes on loopback.

Used by the end-to-end tests and by ``make demo``. Every process is stopped by its own PID
(SIGTERM, then SIGKILL after a bounded wait); every wait is bounded.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0

# Processes started and not yet stopped, so a failing test's report can show their logs.
_RUNNING: list["ManagedProcess"] = []


def running_processes() -> list["ManagedProcess"]:
    """Return the managed processes started and not stopped yet, oldest first."""
    return list(_RUNNING)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    """Tell whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def process_gone(pid: int) -> bool:
    """Tell whether no process has ``pid`` (a zombie not yet reaped still counts as there)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class Daemon:
    """A foreground daemon a test harness starts (rpcbind, ganesha, ceph), output to a log.

    Stopped by its own PID: SIGTERM, then SIGKILL after ``timeout_s``.
    """

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        except BaseException:
            self._log.close()
            raise

    def stop(self, timeout_s: float) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        self._log.close()


class ManagedProcess:
    """A child process with its output in a log file, stopped by PID."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.log_path = log_path
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "ManagedProcess":
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        _RUNNING.append(self)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait_http(self, url: str, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until ``url`` answers any HTTP status, or fail with the log's tail."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                httpx.get(url, timeout=1.0)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} did not answer at {url} within {timeout_s} s:\n{self.log_tail()}"
        )

    def wait_port(self, port: int, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until 127.0.0.1:``port`` accepts TCP connections (a TLS-only listener).

        uvicorn binds only after the app started, so an accepted connection means ready.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} did not listen on port {port} within {timeout_s} s:\n{self.log_tail()}"
        )

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Signal the process and wait for it; SIGKILL if it does not exit in time."""
        if self.process is None:
            return None
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def base_env() -> dict[str, str]:
    """The environment for child processes: ours, minus anything kvmcloud would read."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KVMCLOUD_")}


@dataclass
class AdminKeys:
    """The bootstrap admin's keys and first password, printed by ``kvmcloud-server init``."""

    api_key: str
    secret_key: str
    # Printed once, by the init that gave the admin their first (generated) password.
    password: str | None = None


def init_server(database_url: str, log_path: Path, config_dir: Path) -> AdminKeys:
    """Run ``kvmcloud-server init`` (database, agent CA in ``config_dir``); return the keys.

    The first init of a database also prints the admin's generated password, kept here.
    """
    env = base_env() | {
        "KVMCLOUD_DATABASE_URL": database_url,
        "KVMCLOUD_LOG_LEVEL": "WARNING",
        "KVMCLOUD_CONFIG_DIR": str(config_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "kvmcloud.server", "init"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    log_path.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"kvmcloud-server init failed:\n{result.stderr}")
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    password = fields.get("password")
    return AdminKeys(
        api_key=fields["api key"].strip(),
        secret_key=fields["secret key"].strip(),
        password=password.strip() if password is not None else None,
    )


def start_server(
    database_url: str,
    port: int,
    log_path: Path,
    config_dir: Path,
    agents_port: int | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> ManagedProcess:
    """Start ``kvmcloud-server serve``: the API on 127.0.0.1:``port``, agents on ``agents_port``.

    The agent listener (mutual TLS) gets a free port unless one is given; it is kept in
    the process's ``env`` as ``KVMCLOUD_AGENTS_PORT``. ``config_dir`` holds the agent CA
    (the one ``init_server`` made): servers sharing a database share it.
    """
    env = base_env() | {
        "KVMCLOUD_DATABASE_URL": database_url,
        "KVMCLOUD_LISTEN_HOST": "127.0.0.1",
        "KVMCLOUD_LISTEN_PORT": str(port),
        "KVMCLOUD_AGENTS_PORT": str(agents_port or free_port()),
        "KVMCLOUD_CONFIG_DIR": str(config_dir),
        **(extra_env or {}),
    }
    server = ManagedProcess(
        "kvmcloud-server", [sys.executable, "-m", "kvmcloud.server", "serve"], env, log_path
    )
    server.start().wait_http(f"http://127.0.0.1:{port}/client/api")
    server.wait_port(int(env["KVMCLOUD_AGENTS_PORT"]))
    return server


def start_agent(
    port: int,
    state_dir: Path,
    log_path: Path,
    extra_env: Mapping[str, str] | None = None,
) -> ManagedProcess:
    """Start ``kvmcloud-agent`` on 127.0.0.1:``port`` (TLS) and wait until it listens.

    A new agent makes its key and enrolment token in ``state_dir``; read the token with
    ``tests.support.trust.agent_token`` (``kvmcloud-agent show-token``).
    """
    env = (
        base_env()
        | dict(extra_env or {})
        | {
            "KVMCLOUD_AGENT_LISTEN_HOST": "127.0.0.1",
            "KVMCLOUD_AGENT_LISTEN_PORT": str(port),
            "KVMCLOUD_AGENT_STATE_DIR": str(state_dir),
        }
    )
    agent = ManagedProcess(
        "kvmcloud-agent", [sys.executable, "-m", "kvmcloud.agent"], env, log_path
    )
    agent.start().wait_port(port)
    return agent
