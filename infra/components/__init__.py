"""The platform's components: one ComponentResource per module, one implementation per target.

Each facade (`registry`, `storage`, `tracking`, `training`, `serving`) owns its type token, its args
dataclass and its outputs; `infra.components.<target>.<module>.create(component, args)` creates the
children (named `f"{component_name}-<role>"`, `parent=component`) and returns the outputs dataclass.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def implementation(target: str, module: str) -> ModuleType:
    """The module implementing component `module` on `target` (`docker` or `kubernetes`)."""
    return importlib.import_module(f"infra.components.{target}.{module}")
