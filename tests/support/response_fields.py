"""Check a real answer against its command's declared response fields (listApis' source)."""

from collections.abc import Mapping
from typing import Any

from kvmcloud.server.api.registry import ApiCommand


def answer_problems(command: ApiCommand[Any], body: Mapping[str, Any]) -> list[str]:
    """Say where a command's synchronous answer (inside its envelope) differs from its schema.

    An async command answers a job id: its object is checked in the job's result instead.
    """
    if command.response is None or command.is_async:
        return []
    return result_problems(command, body)


def result_problems(command: ApiCommand[Any], body: Mapping[str, Any]) -> list[str]:
    """Check a list page, a single object under its key, or a flat object (success, job)."""
    schema = command.response
    if schema is None:
        return []
    value = body.get(command.response_key)
    if isinstance(value, list):
        items = value
    elif isinstance(value, Mapping):
        items = [value]
    else:
        items = [body]
    problems: list[str] = []
    for index, item in enumerate(items):
        where = f"{command.name}[{index}]"
        problems.extend(schema.problems(item, where) if isinstance(item, Mapping) else [where])
    return problems
