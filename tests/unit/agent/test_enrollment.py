import stat
from pathlib import Path

import pytest

from kvmcloud.agent.enrollment import (
    Enrollment,
    EnrollmentStateError,
    create_enroll_token,
    load_enroll_token,
    load_enrollment,
    load_or_create_enroll_token,
    remove_enroll_token,
    save_enrollment,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_token_is_generated_once_privately_and_kept(tmp_path):
    state = tmp_path / "state"

    token, created = load_or_create_enroll_token(state, 1000.0)
    again, created_again = load_or_create_enroll_token(state, 2000.0)

    assert created is True
    assert created_again is False
    assert again == token
    assert token.created_s == 1000.0
    assert len(token.secret) >= 32
    assert token.secret not in repr(token)
    assert mode(state / "enroll-token.json") == 0o600
    assert mode(state) == 0o700


def test_new_token_replaces_the_old_and_removal_leaves_none(tmp_path):
    first, _ = load_or_create_enroll_token(tmp_path, 1000.0)
    second = create_enroll_token(tmp_path, 3000.0)

    assert second.secret != first.secret
    assert load_enroll_token(tmp_path) == second
    remove_enroll_token(tmp_path)
    assert load_enroll_token(tmp_path) is None


def test_damaged_token_file_means_no_token(tmp_path):
    (tmp_path / "enroll-token.json").write_text("{not json")

    assert load_enroll_token(tmp_path) is None


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
