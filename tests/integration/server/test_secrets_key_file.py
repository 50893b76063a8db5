"""The secrets key file on a real file system: modes, never overwritten, rotation steps."""

import os
import stat
from pathlib import Path

import pytest

from kvmcloud.server.sealing import keyfile
from kvmcloud.server.sealing.box import user_secret_context

CONTEXT = user_secret_context("u1")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_with_mode_0600_in_a_0700_directory_and_never_overwritten(
    tmp_path: Path,
) -> None:
    path = tmp_path / "etc" / keyfile.KEY_FILE_NAME
    assert keyfile.ensure_key_file(path) is True
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    before = path.read_bytes()
    assert keyfile.ensure_key_file(path) is False
    assert path.read_bytes() == before
    box = keyfile.load_box(path)
    assert list(box.keys) == [box.current]


@pytest.mark.parametrize("bits", [0o640, 0o604, 0o660])
def test_a_file_group_or_others_can_read_is_refused(tmp_path: Path, bits: int) -> None:
    path = tmp_path / keyfile.KEY_FILE_NAME
    keyfile.ensure_key_file(path)
    os.chmod(path, bits)
    with pytest.raises(keyfile.KeyFileError, match="chmod 600"):
        keyfile.load_box(path)


@pytest.mark.parametrize(
    "content",
    ["", "# only a comment\n", "0011aabb not-base64!\n", "0011aabb AAAA\n", "XYZ AAAA\n"],
)
def test_malformed_files_are_refused_without_echoing_them(tmp_path: Path, content: str) -> None:
    path = tmp_path / keyfile.KEY_FILE_NAME
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(keyfile.KeyFileError) as caught:
        keyfile.load_box(path)
    assert "AAAA" not in str(caught.value)


def test_a_duplicate_key_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / keyfile.KEY_FILE_NAME
    keyfile.ensure_key_file(path)
    line = path.read_text().splitlines()[-1]
    path.write_text(f"{line}\n{line}\n")
    with pytest.raises(keyfile.KeyFileError, match="twice"):
        keyfile.load_box(path)


def test_rotation_steps_add_a_key_first_resume_and_retire(tmp_path: Path) -> None:
    path = tmp_path / keyfile.KEY_FILE_NAME
    keyfile.ensure_key_file(path)
    old = keyfile.load_box(path)
    sealed_old = old.seal("s", CONTEXT)

    during = keyfile.add_key(path)

    assert during.current != old.current and list(during.keys) == [during.current, old.current]
    assert during.open(sealed_old, CONTEXT) == "s"
    assert mode(path) == 0o600
    # A second start (after a crash) carries on with the key the first one added.
    assert keyfile.add_key(path) == during
    after = keyfile.retire_old_keys(path)
    assert list(after.keys) == [during.current]
    assert mode(path) == 0o600
    assert not list(tmp_path.glob(".*.new"))
