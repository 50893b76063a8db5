"""The agent as a real process: token on stderr, enrolment, heartbeats, SIGTERM → exit 0."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.support.heartbeat_server import HeartbeatServer
from tests.support.processes import free_port
from tests.support.trust import TestTrust, agent_token


def read_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def wait_for_line(lines: queue.Queue[str], needle: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    seen = []
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"{needle!r} not printed; got: {''.join(seen)}")


def test_agent_process_enrols_heartbeats_and_stops_cleanly_on_sigterm(
    tmp_path: Path, heartbeat_server: HeartbeatServer, trust: TestTrust
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "KVMCLOUD_AGENT_LISTEN_HOST": "127.0.0.1",
        "KVMCLOUD_AGENT_LISTEN_PORT": str(port),
        "KVMCLOUD_AGENT_STATE_DIR": str(tmp_path / "state"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "kvmcloud.agent"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=read_lines, args=(process.stderr, lines), daemon=True)
    reader.start()
    try:
        token_line = wait_for_line(lines, "enrolment token:", 10)
        token = token_line.split("enrolment token: ", 1)[1].split(";", 1)[0]
        assert token == agent_token(tmp_path / "state")
        wait_for_line(lines, "Uvicorn running", 10)

        trust.enrol(
            f"https://127.0.0.1:{port}", token, key="key-1", server_url=heartbeat_server.url
        )
        first = heartbeat_server.beats.get(timeout=5)
        assert first["host_uuid"] == "h1"
        assert first["shutting_down"] is False

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        beats = [heartbeat_server.beats.get_nowait() for _ in range(heartbeat_server.beats.qsize())]
        assert beats
        assert beats[-1]["shutting_down"] is True
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        reader.join(5)
        assert process.stderr is not None
        process.stderr.close()


def test_bad_setting_fails_at_startup_naming_the_variable(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KVMCLOUD_AGENT_LISTEN_PORT": "eighty",
        "KVMCLOUD_AGENT_STATE_DIR": str(tmp_path),
    }

    result = subprocess.run(
        [sys.executable, "-m", "kvmcloud.agent"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "KVMCLOUD_AGENT_LISTEN_PORT" in result.stderr


def test_a_damaged_host_tag_file_stops_the_agent_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "host-tag").write_text("not a tag\n")
    env = {
        **os.environ,
        "KVMCLOUD_AGENT_STATE_DIR": str(tmp_path),
    }

    result = subprocess.run(
        [sys.executable, "-m", "kvmcloud.agent"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "host-tag must hold 16 lowercase hex digits" in result.stderr
    assert "Traceback" not in result.stderr
