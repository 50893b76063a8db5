"""Settings files in systemd's EnvironmentFile syntax: read them and set values in them."""

import re
from collections.abc import Mapping

_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
# A value is written bare: systemd reads it as is, and so does `set -a; . file` in a shell.
_UNSAFE = re.compile(r"[\s\"'\\`$;&|<>()#]")


class EnvFileError(ValueError):
    """A name or value cannot be written bare into an environment file."""


def parse(text: str) -> dict[str, str]:
    """Return the ``NAME=value`` assignments of ``text``; a later one wins, comments skipped."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and _NAME.fullmatch(name):
            values[name] = _unquote(value.strip())
    return values


def set_values(text: str, values: Mapping[str, str]) -> str:
    """Return ``text`` with each name set to its value, every other line kept.

    An assignment already there is replaced in place (later duplicates are dropped); else
    a commented-out ``#NAME=`` line is replaced; else the assignment is appended.

    Raises:
        EnvFileError: a name is not an upper-case variable name, or a value holds
            whitespace, quotes or a character a shell would interpret.
    """
    for name, value in values.items():
        if not _NAME.fullmatch(name):
            raise EnvFileError(f"{name!r} is not a variable name")
        if _UNSAFE.search(value):
            raise EnvFileError(
                f"the value of {name} holds whitespace, a quote or a shell character"
            )
    lines = text.splitlines()
    for name, value in values.items():
        lines = _set_one(lines, name, value)
    return "\n".join(lines) + "\n"


def _set_one(lines: list[str], name: str, value: str) -> list[str]:
    assignment = f"{name}={value}"
    active = [i for i, line in enumerate(lines) if line.strip().startswith(f"{name}=")]
    if active:
        first = active[0]
        kept = [line for i, line in enumerate(lines) if i not in active[1:]]
        kept[first] = assignment
        return kept
    for i, line in enumerate(lines):
        if line.strip().lstrip("#").strip().startswith(f"{name}="):
            return [*lines[:i], assignment, *lines[i + 1 :]]
    return [*lines, assignment]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value
