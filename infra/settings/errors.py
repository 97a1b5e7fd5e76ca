"""Settings errors: every problem names the stack, the dotted key and what is allowed, all at once.

`problems(error, model)` turns a pydantic `ValidationError` into `Problem`s: the location becomes the
dotted config key (`mlops:serving.replicas`), the field's description says what is allowed, and an
unknown key is answered with the closest known one (difflib).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pulumi
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from contract import CONFIG_NAMESPACE

OBJECT = "an object of settings"


@dataclass(frozen=True)
class Problem:
    key: str
    """The full config key, `mlops:section.key`."""
    problem: str
    allowed: str

    def line(self) -> str:
        return f"config '{self.key}' {self.problem}; allowed: {self.allowed}"


def config_key(*path: str | int) -> str:
    dotted = ".".join(str(p) for p in path)
    return dotted if dotted.startswith(f"{CONFIG_NAMESPACE}:") else f"{CONFIG_NAMESPACE}:{dotted}"


class SettingsError(pulumi.RunError, ValueError):
    """Stack config that cannot be used; the message names the stack and, for each problem, the key and
    what is allowed. A `pulumi.RunError`, so `pulumi preview` prints the message without a traceback."""

    def __init__(self, stack: str, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("a SettingsError needs at least one problem")
        self.stack = stack
        self.problems = tuple(problems)
        self.key = self.problems[0].key
        self.allowed = self.problems[0].allowed
        if len(self.problems) == 1:
            message = f"stack '{stack}': {self.problems[0].line()}"
        else:
            lines = "\n".join(f"  - {p.line()}" for p in self.problems)
            message = f"stack '{stack}': {len(self.problems)} config problems:\n{lines}"
        super().__init__(message)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.problems)


def unknown_key(path: Sequence[str | int], key: str, known: Iterable[str]) -> Problem:
    candidates = sorted(known)
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    hint = f"is not a known key; did you mean '{config_key(*path, close[0])}'?" if close else "is not a known key"
    return Problem(config_key(*path, key), hint, "one of " + ", ".join(candidates))


def _aliases(model: type[BaseModel]) -> dict[str, FieldInfo]:
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _submodel(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _submodel(arg)
            if found is not None:
                return found
    return None


def _field(model: type[BaseModel], path: Sequence[str]) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model that holds the last key of `path`, and that key's field (None when unknown)."""
    current: type[BaseModel] | None = model
    info: FieldInfo | None = None
    for index, part in enumerate(path):
        if current is None:
            return None, None
        info = _aliases(current).get(part)
        if info is None:
            return current, None
        if index < len(path) - 1:
            current = _submodel(info.annotation)
    return current, info


def _model_at(model: type[BaseModel], path: Sequence[str]) -> type[BaseModel] | None:
    if not path:
        return model
    _, info = _field(model, path)
    return _submodel(info.annotation) if info is not None else None


def problems(error: ValidationError, model: type[BaseModel], prefix: Sequence[str] = ()) -> list[Problem]:
    """One `Problem` per error of `error`, raised validating `model` at config path `prefix`."""
    found = []
    for item in error.errors():
        loc = tuple(item["loc"])
        # A list item is reported against its list: the key the user wrote.
        cut = next((i for i, part in enumerate(loc) if not isinstance(part, str)), len(loc))
        path = [str(part) for part in loc[:cut]]
        key = config_key(*prefix, *path)
        item_note = f"item {loc[cut]} " if cut < len(loc) else ""
        kind = item["type"]
        if kind == "extra_forbidden":
            parent = _model_at(model, path[:-1])
            found.append(unknown_key([*prefix, *path[:-1]], path[-1], _aliases(parent) if parent else {}))
        elif kind in ("model_type", "model_attributes_type", "dict_type") and not item_note:
            found.append(Problem(key, f"is {type(item['input']).__name__}", OBJECT))
        else:
            _, info = _field(model, path)
            allowed = (info.description if info is not None else None) or item["msg"]
            if kind == "missing":
                found.append(Problem(key, "is required but not set", allowed))
            else:
                found.append(Problem(key, f"{item_note}= {item['input']!r} is not allowed", allowed))
    return found
