"""`kvmcloud login`, then `kvmcloud api` by session without keys, then `kvmcloud logout`."""

import json
import stat
from pathlib import Path

import pytest

from kvmcloud.cli.__main__ import main
from tests.integration.server.conftest import ServerHarness, Wire
from tests.integration.server.test_login import PASSWORD, give_password


@pytest.fixture
def cli_env(
    server: ServerHarness, wire: Wire, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    give_password(server, "admin")
    for name in ("KVMCLOUD_API_KEY", "KVMCLOUD_SECRET_KEY", "KVMCLOUD_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "session.json"
    monkeypatch.setenv("KVMCLOUD_SESSION_FILE", str(path))
    monkeypatch.setenv("KVMCLOUD_URL", f"{wire.base_url}/client/api")
    return path


def test_login_keeps_a_private_session_that_api_calls_use(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts: list[str] = []

    def password(prompt: str) -> str:
        prompts.append(prompt)
        return PASSWORD

    assert main(["login", "--username", "admin"], ask_password=password) == 0
    assert prompts == ["password for admin: "]
    assert stat.S_IMODE(cli_env.stat().st_mode) == 0o600
    assert PASSWORD not in cli_env.read_text()
    capsys.readouterr()

    assert main(["api", "listZones"]) == 0
    assert json.loads(capsys.readouterr().out) == {}

    assert main(["logout"]) == 0
    assert not cli_env.exists()
    capsys.readouterr()
    assert main(["api", "listZones"]) == 2
    assert "kvmcloud login" in capsys.readouterr().err


def test_a_wrong_password_saves_nothing(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["login"], ask=lambda _prompt: "admin", ask_password=lambda _prompt: "nope")
    assert status == 1
    assert "error 531: failed to authenticate user" in capsys.readouterr().err
    assert not cli_env.exists()


def test_a_session_ended_on_the_server_is_refused(
    cli_env: Path, server: ServerHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["login", "--username", "admin"], ask_password=lambda _p: PASSWORD) == 0
    server.clock.advance(1800)
    capsys.readouterr()
    assert main(["api", "listZones"]) == 1
    assert "error 401" in capsys.readouterr().err
