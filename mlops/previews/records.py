"""What one stack's preview says, independent of the shape it was read from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml.promote.model_change import ModelRefChange

# Pulumi's placeholder for a value that is only known after the update.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced"})
COUNTED_OPS = ("create", "update", "replace", "delete", "same")
CANNOT_RUN = "can't run policy"


@dataclass(frozen=True)
class ResourceChange:
    op: str
    urn: str
    type: str
    name: str
    replace_reasons: tuple[str, ...] = ()
    diff_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyViolation:
    policy: str
    pack: str
    level: str
    message: str
    urn: str | None


@dataclass
class StackPreview:
    stack: str
    counts: dict[str, int]
    changes: list[ResourceChange]
    violations: list[PolicyViolation]
    errors: list[str]
    warnings: list[str]
    model_changes: list[ModelRefChange]
    configured_model_uri: str | None = None
    served_model_known: bool = True
    """False where the input carries no planned stack outputs (the CLI's digest): no served-model change is known."""
    outputs: dict[str, Any] = field(default_factory=dict)
    deferred: list[PolicyViolation] = field(default_factory=list)
    """Policies the engine could not run in preview (an input known only after the update)."""
    program_stderr: list[str] = field(default_factory=list)
    policy_events_available: bool = True
    policy_packs: dict[str, str] | None = None
    """Packs that ran (name -> version), from the summary event; None where the input cannot tell."""
    failed: bool = False

    @property
    def replaced(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.op == "replace"]

    def has_changes(self) -> bool:
        return any(self.counts.get(op, 0) for op in ("create", "update", "replace", "delete"))


@dataclass(frozen=True)
class Step:
    """One engine step, normalised from any input shape."""

    op: str
    urn: str
    type: str
    old_inputs: Any
    new_inputs: Any
    old_outputs: Any
    replace_reasons: tuple[str, ...]
    diff_reasons: tuple[str, ...]


def op_name(value: Any) -> str:
    # The Automation API's OpType may arrive as its enum repr when serialised naively.
    text = str(value or "")
    return text.split(".", 1)[1].lower().replace("_", "-") if text.startswith("OpType.") else text


def urn_parts(urn: str) -> tuple[str, str]:
    """(type, name) of a URN `urn:pulumi:stack::project::parent$type::name`."""
    parts = urn.split("::")
    if len(parts) < 4:
        return "", urn
    return parts[2].rsplit("$", 1)[-1], "::".join(parts[3:])
