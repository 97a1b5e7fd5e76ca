"""The one way a setting is declared: a strict, frozen pydantic field whose description is what is allowed.

Every model of `infra.settings` derives from `Section`: camelCase aliases (the stack files' spelling),
`extra="forbid"` (an unknown key is an error, never ignored), strict types (`true` is not `1`, `"2"` is
not `2`) and frozen instances. Each field helper records "what is allowed" as the field's description,
which `infra.settings.errors` quotes when a value is refused.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Lower-case docker object names (users, volumes).
NAME = r"^[a-z0-9][a-z0-9_.-]*$"
NAME_HELP = "lower-case letters, digits, '.', '_', '-'"
HTTP_URL_OR_EMPTY = r"^(https?://\S+)?$"
PORT_RANGE = (1024, 65535)


class Section(BaseModel):
    """A frozen, strictly typed object of settings whose keys are spelled in camelCase."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
    )


def integer(default: int, low: int, high: int) -> Any:
    return Field(default, ge=low, le=high, description=f"an integer from {low} to {high}")


def port(default: int) -> Any:
    """A port a container publishes on the host: never a privileged one."""
    return integer(default, *PORT_RANGE)


def number(default: float, low: float, high: float) -> Any:
    return Field(default, ge=low, le=high, description=f"a number from {low} to {high}")


def flag(default: bool) -> Any:
    return Field(default, description="true | false")


def choice(default: str, allowed: tuple[str, ...]) -> Any:
    """For a `Literal[...]` field: the description lists the literals."""
    return Field(default, description=" | ".join(allowed))


def text(default: str | None, pattern: str, allowed: str) -> Any:
    """A string matching `pattern`; `default=None` makes the key required."""
    if default is None:
        return Field(pattern=pattern, description=allowed)
    return Field(default, pattern=pattern, description=allowed)


class Limits(Section):
    """CPU (cores, fractional) and memory (MiB) a workload may use."""

    cpus: float
    memory_mb: int
