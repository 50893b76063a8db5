"""CliSettings (frozen dataclass) + from_env(environ): endpoint and API keys for the CLI."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

URL_VAR = "KVMCLOUD_URL"
API_KEY_VAR = "KVMCLOUD_API_KEY"
SECRET_KEY_VAR = "KVMCLOUD_SECRET_KEY"  # noqa: S105 - a variable name, not a secret
DEFAULT_URL = "http://127.0.0.1:8080/client/api"

# The command-line flag that sets the same value, so an error can name both ways to fix it.
FLAG_FOR_VAR = {URL_VAR: "--url", API_KEY_VAR: "--api-key", SECRET_KEY_VAR: "--secret-key"}


class SettingsError(ValueError):
    """A required setting is missing; the text names the variable and the flag."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CliSettings:
    """Where the API lives and the key pair that signs requests to it."""

    url: str = DEFAULT_URL
    api_key: str
    secret_key: str = field(repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "CliSettings":
        """Build settings from ``KVMCLOUD_*`` variables; an empty value counts as unset.

        Raises:
            SettingsError: the API key or the secret key is missing.
        """
        return cls(
            url=environ.get(URL_VAR) or DEFAULT_URL,
            api_key=_required(environ, API_KEY_VAR),
            secret_key=_required(environ, SECRET_KEY_VAR),
        )


def process_environ() -> Mapping[str, str]:
    """Return the process environment; the only place the CLI reads it."""
    return os.environ


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise SettingsError(f"{name} is not set: export it or pass {FLAG_FOR_VAR[name]}")
    return value
