"""The CLI's saved login session: where it lives, mode 0600, malformed files refused."""

import stat
from pathlib import Path

import pytest

from kvmcloud.cli.session_profile import (
    ProfileError,
    SessionProfile,
    load_profile,
    profile_path,
    remove_profile,
    save_profile,
)

PROFILE = SessionProfile(
    url="http://127.0.0.1:8080/client/api", username="admin", session_id="sid", session_key="key"
)


def test_path_from_the_variable_then_xdg_then_home() -> None:
    assert profile_path({"KVMCLOUD_SESSION_FILE": "/x/s.json"}) == Path("/x/s.json")
    assert profile_path({"XDG_CONFIG_HOME": "/c"}) == Path("/c/kvmcloud/session.json")
    assert profile_path({"HOME": "/h"}) == Path("/h/.config/kvmcloud/session.json")


def test_saved_profile_is_private_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "kvmcloud" / "session.json"
    save_profile(path, PROFILE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_profile(path) == PROFILE
    assert "sid" not in repr(PROFILE)
    assert remove_profile(path)
    assert load_profile(path) is None
    assert not remove_profile(path)


@pytest.mark.parametrize("text", ["not json", "[]", '{"url": "u"}'])
def test_a_malformed_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "session.json"
    path.write_text(text)
    with pytest.raises(ProfileError, match="not a kvmcloud session file"):
        load_profile(path)
