"""The one idiom for the sections of a stack's config that `ml` reads (`mlops:promotion`, `mlops:monitoring`).

A section is a `Section`: a frozen pydantic model whose keys are spelled in camelCase, as in the stack
files, with `extra="forbid"` (an unknown key is an error, answered with the closest known key). Each
field's description says what is allowed; `parse_section` turns every validation error into a line that
names the stack, the dotted key (`mlops:promotion.probeRows`) and what is allowed, like the training
config (`ml.training_config`) and the Pulumi program's settings do.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from contract import CONFIG_NAMESPACE

SectionT = TypeVar("SectionT", bound="Section")


class Section(BaseModel):
    """A frozen object of settings whose keys are spelled in camelCase; unknown keys are refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class SectionError(ValueError):
    """A stack config section that cannot be used; the message names the stack, each key and what is allowed."""

    def __init__(self, stack: str | None, problems: Sequence[str]) -> None:
        self.stack = stack
        self.problems = tuple(problems)
        where = f"stack '{stack}': " if stack else ""
        if len(self.problems) == 1:
            message = where + self.problems[0]
        else:
            message = where + f"{len(self.problems)} config problems:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


def _flag(value: Any) -> Any:
    # Strings only as the words a stack file or `pulumi config set` writes: "yes" or 1 is a typo, not true.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise ValueError(f"must be true or false, got {value!r}")


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"must be a number, got {value!r}") from None


def _whole(value: Any) -> Any:
    number = _number(value)
    if number != int(number):
        raise ValueError(f"must be a whole number, got {value!r}")
    return int(number)


Flag = Annotated[bool, BeforeValidator(_flag)]
"""`true` or `false` (also as those words in a string)."""
Number = Annotated[float, BeforeValidator(_number)]
"""A number (also as a numeric string); never a boolean."""
Whole = Annotated[int, BeforeValidator(_whole)]
"""A whole number (also as a numeric string); never a boolean."""


def config_key(section: str, path: Sequence[str | int]) -> str:
    """`mlops:promotion` + `("thresholds", 0, "threshold")` -> `mlops:promotion.thresholds[0].threshold`."""
    key = f"{CONFIG_NAMESPACE}:{section}"
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key


def _key_of(name: str, info: Any) -> str:
    alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
    return alias or name


def _submodel(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):  # Optional[...], tuple[...], Annotated[...]
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def _model_at(model: type[BaseModel], path: Sequence[str | int]) -> tuple[type[BaseModel] | None, dict[str, Any]]:
    """The model holding the last key of `path`, and its fields by the key a stack file spells."""
    current: type[BaseModel] | None = model
    for part in path:
        if current is None:
            break
        if isinstance(part, int):
            continue
        fields = {_key_of(name, info): info for name, info in current.model_fields.items()}
        current = _submodel(fields[part].annotation) if part in fields else None
    if current is None:
        return None, {}
    return current, {_key_of(name, info): info for name, info in current.model_fields.items()}


def _problem(section: str, model: type[BaseModel], item: Mapping[str, Any]) -> str:
    loc = tuple(item["loc"])
    kind = item["type"]
    if kind == "extra_forbidden":
        _, known = _model_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), sorted(known), n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown key '{loc[-1]}' in {config_key(section, loc[:-1])}{hint}; allowed: {', '.join(sorted(known))}"
    key = config_key(section, loc)
    _, known = _model_at(model, loc[:-1])
    info = known.get(str(loc[-1])) if loc else None
    allowed = info.description if info is not None and info.description else None
    if kind == "missing":
        return f"{key} is required" + (f"; allowed: {allowed}" if allowed else "")
    if kind in ("enum", "literal_error"):
        choices = ", ".join(re.findall(r"'([^']*)'", str(item.get("ctx", {}).get("expected", ""))))
        return f"{key} = {item['input']!r}; allowed: {allowed or choices}"
    if kind == "value_error":
        return f"{key} {item['msg'].removeprefix('Value error, ')}"
    if allowed:
        return f"{key} must be {allowed}, got {item['input']!r}"
    return f"{key} = {item['input']!r}: {item['msg']}"


def parse_section(
    model: type[SectionT], section: str, stack: str | None, raw: Mapping[str, Any] | None, error: type[SectionError]
) -> SectionT:
    """Validate a stack's `mlops:<section>` mapping (absent: every default) into `model`."""
    if raw is not None and not isinstance(raw, Mapping):
        raise error(stack, [f"{config_key(section, ())} must be a mapping of keys, got {raw!r}"])
    try:
        return model.model_validate(dict(raw or {}))
    except ValidationError as exc:
        raise error(stack, [_problem(section, model, item) for item in exc.errors()]) from exc
