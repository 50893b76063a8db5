"""ApiCommand declarations, CommandSet (a feature's commands) and Registry.lookup()."""

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.agent_client import AgentClient
from kvmcloud.server.api.fields import ObjectSchema
from kvmcloud.server.api.params import ParamSpec, describe
from kvmcloud.server.api.responses import ApiResult
from kvmcloud.server.db import Database
from kvmcloud.server.hooks import Hooks
from kvmcloud.server.sealing.box import SecretBox
from kvmcloud.server.settings import ServerSettings

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class ApiContext:
    """Collaborators a handler passes to the use case it calls; use cases open the transactions."""

    db: Database
    agents: AgentClient
    clock: Callable[[], datetime]
    settings: ServerSettings
    rng: random.Random
    caller: Caller
    command: str
    registry: "Registry"
    hooks: Hooks
    # Seals and opens secrets at rest (API secret keys, agent keys, HTTP_HEADER values).
    box: SecretBox


# Told of each command that succeeded without a job (its event, app.py wires in): the
# caller, the command's name, the object it answered (None for a bare success) and the
# ``id`` it was given.
CommandObserver = Callable[[Caller, str, Mapping[str, Any] | None, str | None], None]


def observe_nothing(
    _caller: Caller, _command: str, _item: Mapping[str, Any] | None, _target_id: str | None
) -> None:
    """The observer of a dispatcher nothing listens to."""


@dataclass(frozen=True, slots=True)
class ApiCommand(Generic[P]):
    """One API command: its name, parameters, handler and how it answers."""

    name: str
    handler: Callable[[ApiContext, P], ApiResult]
    params: type[P]
    description: str
    response_key: str
    is_async: bool = False
    since: str = "4.11.0"
    # The object it answers (for an async command, its job's result): listApis' ``response``.
    response: ObjectSchema | None = None

    def param_specs(self) -> list[ParamSpec]:
        """Describe the parameters for listApis."""
        return describe(self.params)


class CommandSet:
    """The commands one feature declares; app.py gathers the sets into a Registry."""

    def __init__(self) -> None:
        self.commands: list[ApiCommand[Any]] = []

    def command(
        self,
        name: str,
        params: type[P],
        *,
        description: str,
        response_key: str,
        is_async: bool = False,
        since: str = "4.11.0",
        response: ObjectSchema | None = None,
    ) -> Callable[[Callable[[ApiContext, P], ApiResult]], Callable[[ApiContext, P], ApiResult]]:
        """Declare the decorated function as the handler of API command ``name``."""

        def register(
            handler: Callable[[ApiContext, P], ApiResult],
        ) -> Callable[[ApiContext, P], ApiResult]:
            self.commands.append(
                ApiCommand(
                    name=name,
                    handler=handler,
                    params=params,
                    description=description,
                    response_key=response_key,
                    is_async=is_async,
                    since=since,
                    response=response,
                )
            )
            return handler

        return register


class Registry:
    """Every API command by name."""

    def __init__(self, command_sets: Iterable[CommandSet]) -> None:
        self._by_name: dict[str, ApiCommand[Any]] = {}
        for command_set in command_sets:
            for command in command_set.commands:
                if command.name in self._by_name:
                    raise ValueError(f"API command {command.name} declared twice")
                self._by_name[command.name] = command
        self._by_lower = {name.lower(): cmd for name, cmd in self._by_name.items()}

    def lookup(self, name: str) -> ApiCommand[Any] | None:
        """Find a command by name; CloudStack names are matched without regard to case."""
        return self._by_name.get(name) or self._by_lower.get(name.lower())

    def all(self) -> list[ApiCommand[Any]]:
        """Return every command, sorted by name."""
        return sorted(self._by_name.values(), key=lambda command: command.name)
