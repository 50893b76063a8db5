import stat
from pathlib import Path

import pytest

from kvmcloud.agent.enrollment import (
    Enrollment,
    EnrollmentStateError,
    load_enrollment,
    load_or_create_enroll_token,
    save_enrollment,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_token_is_generated_once_privately_and_kept(tmp_path):
    state = tmp_path / "state"

    token, created = load_or_create_enroll_token(state)
    again, created_again = load_or_create_enroll_token(state)

    assert created is True
    assert created_again is False
    assert again == token
    assert len(token) >= 32
    assert mode(state / "enroll-token") == 0o600
    assert mode(state) == 0o700


def test_enrollment_round_trips_in_a_private_file(tmp_path):
    enrollment = Enrollment(host_uuid="h1", host_key="k" * 40, server_url="http://mgmt:8080")

    assert load_enrollment(tmp_path) is None
    save_enrollment(tmp_path, enrollment)

    assert load_enrollment(tmp_path) == enrollment
    assert mode(tmp_path / "enrollment.json") == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["enrollment.json"]  # no temp files left


def test_repr_hides_the_key():
    enrollment = Enrollment(host_uuid="h1", host_key="secret-key", server_url="http://m")
    assert "secret-key" not in repr(enrollment)


def test_damaged_enrollment_file_is_an_error(tmp_path):
    (tmp_path / "enrollment.json").write_text('{"host_uuid": 1}')
    with pytest.raises(EnrollmentStateError, match="does not hold"):
        load_enrollment(tmp_path)
