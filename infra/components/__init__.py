"""The platform's components: one ComponentResource per module, one implementation per target.

Each facade (`registry`, `storage`, `tracking`, `training`, `serving`) owns its type token
(`mlops:<module>:<Type>`); the args and outputs dataclasses live in `infra.components.types`. The
facade picks `create(component, args)` of its target from the explicit table `infra.components.targets`;
`create` makes the children (named `f"{component.pulumi_resource_name}-<role>"`, `parent=component`) and
returns the outputs dataclass. Each target's `foundation(parent, settings)` makes what all its components
share (docker: the network; kubernetes: the namespaces and the provider).
"""
