"""The secrets key file: create (mode 0600, never overwritten), load, add and retire keys."""

import base64
import binascii
import os
import stat
from pathlib import Path

from kvmcloud.server.sealing.box import SecretBox, SecretsError, check_key, new_key, new_key_id

KEY_FILE_NAME = "secrets.key"
_HEADER = (
    "# kvmcloud secrets key: encrypts API secret keys, agent keys and HTTP_HEADER values\n"
    "# in the database. Keep it secret (mode 0600) and back it up apart from the database:\n"
    "# without it those secrets cannot be read. First line: the key that seals; any other\n"
    "# lines: older keys kept readable while `kvmcloud-server rotate-key` runs.\n"
)


class KeyFileError(SecretsError):
    """The key file is missing, unreadable, malformed or readable by group or others."""


def key_file_path(config_dir: Path) -> Path:
    """Return where the key file lives in the configuration directory."""
    return config_dir / KEY_FILE_NAME


def ensure_key_file(path: Path) -> bool:
    """Create the key file with one fresh key unless it exists; return True if created.

    An existing file is never overwritten: replacing it would make every sealed secret
    unreadable.
    """
    if path.exists():
        return False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_id = new_key_id()
    try:
        _write_new(path, [(key_id, new_key())])
    except FileExistsError:
        return False
    return True


def load_box(path: Path) -> SecretBox:
    """Read the key file into a SecretBox.

    Raises:
        KeyFileError: missing, unreadable, malformed, or with any group/other permission
            bit set (refused, as ssh refuses a private key others can read).
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(
            f"the secrets key file {path} does not exist; `kvmcloud-server init` creates it "
            "(restore it from backup if this database was initialised before)"
        ) from None
    if stat.S_IMODE(mode) & 0o077:
        raise KeyFileError(
            f"the secrets key file {path} is readable by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`"
        )
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read the secrets key file {path}: {exc}") from None
    keys = _parse(text, path)
    return SecretBox(dict(keys), current=keys[0][0])


def add_key(path: Path) -> SecretBox:
    """Start a rotation: put a new sealing key first, keep the old ones readable.

    When the file already holds more than one key, a rotation was interrupted: it is
    resumed with the key it started, and no further key is added.
    """
    box = load_box(path)
    if len(box.keys) > 1:
        return box
    keys = [(new_key_id(), new_key()), *box.keys.items()]
    _replace(path, keys)
    return load_box(path)


def retire_old_keys(path: Path) -> SecretBox:
    """End a rotation: keep only the sealing key (call once nothing is sealed under the rest)."""
    box = load_box(path)
    if len(box.keys) > 1:
        _replace(path, [(box.current, box.keys[box.current])])
    return load_box(path)


def _parse(text: str, path: Path) -> list[tuple[str, bytes]]:
    keys: list[tuple[str, bytes]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key_id, _, encoded = line.partition(" ")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
            check_key(key_id, key)
        except (binascii.Error, ValueError, SecretsError):
            raise KeyFileError(
                f"line {number} of the secrets key file {path} is not '<key id> <base64 key>'"
            ) from None
        if any(key_id == seen for seen, _ in keys):
            raise KeyFileError(f"key id {key_id} appears twice in the secrets key file {path}")
        keys.append((key_id, key))
    if not keys:
        raise KeyFileError(f"the secrets key file {path} holds no key")
    return keys


def _render(keys: list[tuple[str, bytes]]) -> bytes:
    lines = [f"{key_id} {base64.b64encode(key).decode()}\n" for key_id, key in keys]
    return (_HEADER + "".join(lines)).encode("ascii")


def _write_new(path: Path, keys: list[tuple[str, bytes]]) -> None:
    # O_EXCL with mode 0600: never replaces a file, and no moment with a wider mode.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, _render(keys))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _replace(path: Path, keys: list[tuple[str, bytes]]) -> None:
    # Write aside, then rename over: a crash leaves the old file or the new one, never half.
    temporary = path.with_name(f".{path.name}.new")
    temporary.unlink(missing_ok=True)
    _write_new(temporary, keys)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
