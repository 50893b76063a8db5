"""replace_private_file(): write a file atomically, readable by its owner only (0600)."""

import os
import secrets
from pathlib import Path


def replace_private_file(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8): a 0600 temp file, fsync, rename, fsync the dir.

    A reader sees the old file or the new one, never a part, and never a wider mode.

    Raises:
        OSError: the file cannot be written; the temp file is removed.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
