"""`kvmcloud-server init` sets the admin's password, or prints a generated one once."""

from pathlib import Path

import pytest
from sqlalchemy import text

from kvmcloud.server.accounts.passwords import verify_password
from kvmcloud.server.db import make_engine
from tests.integration.server.test_secrets_at_rest import Installation, install

__all__ = ["install"]


def stored_password(install: Installation) -> str:
    engine = make_engine(f"sqlite:///{install.db_path}")
    try:
        with engine.connect() as connection:
            value = connection.scalar(text("SELECT password FROM user WHERE username = 'admin'"))
    finally:
        engine.dispose()
    assert isinstance(value, str)
    return value


def password_line(out: str) -> str | None:
    lines = [line for line in out.splitlines() if line.startswith("password:")]
    assert len(lines) <= 1
    return lines[0].split(":", 1)[1].strip() if lines else None


def test_init_prints_a_generated_password_once_and_stores_only_a_hash(
    install: Installation,
) -> None:
    code, out, _ = install.cli("init")
    assert code == 0
    password = password_line(out)
    assert password and len(password) >= 24
    assert "api key:" in out and "secret key:" in out
    stored = stored_password(install)
    assert password not in stored
    assert verify_password(password, stored)

    code, again, _ = install.cli("init")
    assert code == 0
    assert password_line(again) is None
    assert stored_password(install) == stored


def test_init_takes_the_password_from_the_environment(
    install: Installation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KVMCLOUD_ADMIN_PASSWORD", "env-given-Passw0rd")
    code, out, err = install.cli("init")
    assert code == 0
    assert password_line(out) is None
    assert "env-given-Passw0rd" not in out + err
    assert verify_password("env-given-Passw0rd", stored_password(install))


def test_init_takes_the_password_from_a_file(install: Installation, tmp_path: Path) -> None:
    path = tmp_path / "admin-password"
    path.write_text("file-given-Passw0rd\n")
    code, out, _ = install.cli("init")
    first = password_line(out)
    assert first is not None
    code, out, err = install.cli("init", "--admin-password-file", str(path))
    assert code == 0, err
    assert password_line(out) is None
    stored = stored_password(install)
    assert verify_password("file-given-Passw0rd", stored)
    assert not verify_password(first, stored)


def test_an_empty_password_file_is_refused(install: Installation, tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_text("")
    with pytest.raises(SystemExit, match="no password"):
        install.cli("init", "--admin-password-file", str(path))
