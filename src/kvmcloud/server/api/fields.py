"""Response objects' declared fields: what views may answer and what listApis describes (pure).

Each view builds its CloudStack object through its ``ObjectSchema.render``, which refuses a
field the schema does not declare, and each command names the schema of what it answers.
listApis describes the same schema, so the answer and its description cannot drift apart.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kvmcloud.server.api.params import Entity


class FieldType(StrEnum):
    """Field types as CloudStack's listApis names them (the Java field's simple type)."""

    STRING = "string"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    LONG = "long"
    DOUBLE = "double"
    FLOAT = "float"
    DATE = "date"
    MAP = "map"
    LIST = "list"
    SET = "set"
    OBJECT = "object"


class UndeclaredFieldError(Exception):
    """A view answered a field its schema does not declare: a bug, caught by every test."""


@dataclass(frozen=True, slots=True)
class ResponseField:
    """One field of a response object; ``nested`` describes list items or an object's fields."""

    name: str
    type: FieldType
    description: str
    nested: "ObjectSchema | None" = None


def out(
    name: str, type_: FieldType, description: str, nested: "ObjectSchema | None" = None
) -> ResponseField:
    """Declare one response field (short, because schemas list dozens)."""
    return ResponseField(name, type_, description, nested)


@dataclass(frozen=True, slots=True)
class ObjectSchema:
    """A CloudStack response object: its class name (which groups ``related``) and fields.

    ``entity`` says which uuid parameters name this object: listApis relates those
    parameters to the commands answering it, as CloudStack does through ``entityType``.
    """

    name: str
    fields: tuple[ResponseField, ...]
    entity: Entity | None = None
    names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"{self.name} declares {', '.join(repeated)} twice")
        object.__setattr__(self, "names", frozenset(names) | {f.name for f in BASE_FIELDS})

    def render(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """Drop null fields (CloudStack leaves them out); refuse an undeclared field."""
        undeclared = item.keys() - self.names
        if undeclared:
            raise UndeclaredFieldError(
                f"{self.name} does not declare {', '.join(sorted(undeclared))}"
            )
        return {key: value for key, value in item.items() if value is not None}

    def extended(self, name: str, *more: ResponseField) -> "ObjectSchema":
        """Return this object with more fields, under another class name."""
        return ObjectSchema(name, self.fields + tuple(more), self.entity)

    def describe(self, *, top: bool = True) -> list[dict[str, Any]]:
        """Describe the fields as listApis' ``response`` list, nested for lists and objects.

        A top-level object also has the job fields every CloudStack response inherits.
        """
        described = []
        for f in sorted(self._with_inherited() if top else self.fields, key=lambda f: f.name):
            entry: dict[str, Any] = {"name": f.name, "description": f.description, "type": f.type}
            if f.nested is not None:
                entry["response"] = f.nested.describe(top=False)
            described.append(entry)
        return described

    def _with_inherited(self) -> tuple[ResponseField, ...]:
        declared = {f.name for f in self.fields}
        return self.fields + tuple(f for f in BASE_FIELDS if f.name not in declared)

    def problems(self, item: Mapping[str, Any], where: str = "") -> list[str]:
        """Say where ``item`` differs from the declaration: undeclared fields, wrong types."""
        where = where or self.name
        found = [f"{where}.{name}: not declared" for name in sorted(item.keys() - self.names)]
        for f in self._with_inherited():
            if f.name in item and item[f.name] is not None:
                found.extend(_value_problems(f, item[f.name], f"{where}.{f.name}"))
        return found


def _value_problems(declared: ResponseField, value: Any, where: str) -> list[str]:
    kind = declared.type
    if not _has_type(kind, value):
        return [f"{where}: declared {kind}, answered {type(value).__name__}"]
    nested = declared.nested
    if nested is None:
        return []
    if isinstance(value, Mapping):
        return nested.problems(value, where)
    found: list[str] = []
    for index, element in enumerate(value):
        if isinstance(element, Mapping):
            found.extend(nested.problems(element, f"{where}[{index}]"))
        else:
            found.append(f"{where}[{index}]: declared objects, answered {type(element).__name__}")
    return found


def _has_type(kind: FieldType, value: Any) -> bool:
    if kind in (FieldType.STRING, FieldType.DATE):
        return isinstance(value, str)
    if kind is FieldType.BOOLEAN:
        return isinstance(value, bool)
    if kind in (FieldType.INTEGER, FieldType.LONG):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in (FieldType.DOUBLE, FieldType.FLOAT):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind in (FieldType.MAP, FieldType.OBJECT):
        return isinstance(value, Mapping)
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def related(
    schema: "ObjectSchema | None", others: Iterable[tuple[str, "ObjectSchema | None"]]
) -> str:
    """Name the commands answering the same object, as listApis' ``related`` (comma-joined)."""
    if schema is None or schema.name == SUCCESS.name:
        return ""
    return ",".join(
        name for name, other in others if other is not None and other.name == schema.name
    )


# What every CloudStack response object inherits (BaseResponse): the job acting on it.
BASE_FIELDS = (
    out("jobid", FieldType.STRING, "the UUID of the latest async job acting on this object"),
    out(
        "jobstatus",
        FieldType.INTEGER,
        "the current status of the latest async job acting on this object",
    ),
)

SUCCESS = ObjectSchema(
    "SuccessResponse",
    (
        out("success", FieldType.BOOLEAN, "true if operation is executed successfully"),
        out("displaytext", FieldType.STRING, "any text associated with the success or failure"),
    ),
)
