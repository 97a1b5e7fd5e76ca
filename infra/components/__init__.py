"""The platform's components: one ComponentResource per module, one implementation per target.

Each facade (`registry`, `storage`, `tracking`, `training`, `serving`) owns its type token, its args
dataclass and its outputs; `infra.components.<target>.<module>.create(component, args)` creates the
children (named `f"{component.pulumi_resource_name}-<role>"`, `parent=component`) and returns the
outputs dataclass. A target package may also define `foundation(parent, settings) -> Foundation` for
what all its components share (docker: the network; kubernetes: e.g. the provider).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

import pulumi

if TYPE_CHECKING:
    from infra.settings import Settings


@dataclass
class Foundation:
    network: pulumi.Output[str] | None = None
    """docker: the user-defined network every container joins."""
    providers: Sequence[pulumi.ProviderResource] = field(default_factory=tuple)
    """Providers every component of the target uses (passed down through `ResourceOptions.providers`)."""


def implementation(target: str, module: str) -> ModuleType:
    """The module implementing component `module` on `target` (`docker` or `kubernetes`)."""
    return importlib.import_module(f"infra.components.{target}.{module}")


def foundation(target: str, parent: pulumi.Resource, settings: Settings) -> Foundation:
    create = getattr(importlib.import_module(f"infra.components.{target}"), "foundation", None)
    return create(parent, settings) if create is not None else Foundation()


def child_opts(component: pulumi.Resource, **kwargs: object) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=component, **kwargs)  # type: ignore[arg-type]
