"""replace_private_file: atomic, owner-only, and nothing left behind when it fails."""

import stat
from pathlib import Path

import pytest

from kvmcloud.private_files import replace_private_file


def test_writes_owner_only_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text("old")
    path.chmod(0o644)

    replace_private_file(path, "new ✓")

    assert path.read_text(encoding="utf-8") == "new ✓"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def test_a_failed_replace_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("x")

    # os.replace cannot put a file over a non-empty directory.
    with pytest.raises(OSError):
        replace_private_file(target, "new")

    assert target.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
