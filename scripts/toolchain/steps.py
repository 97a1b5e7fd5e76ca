"""The bootstrap's steps, in the order they run."""

from __future__ import annotations

from toolchain import base_image, docker_engine, kube_step, plugins, pulumi_step, python_env, tools
from toolchain.runner import Step

STEPS: dict[str, Step] = {
    "python": Step("python", "the project venv, locked by constraints.txt", python_env.run, python_env.check),
    "pulumi": Step("pulumi", "Pulumi CLI, Python language host and helpers", pulumi_step.run, pulumi_step.check),
    "plugins": Step("plugins", "the kubernetes resource plugin, pinned with its SDK", plugins.run, plugins.check),
    "tools": Step("tools", "developer tools built from Go modules (actionlint)", tools.run, tools.check),
    "docker": Step("docker", "a Docker engine that answers", docker_engine.run, docker_engine.check),
    "base-image": Step("base-image", "the base image of the platform's images", base_image.run, base_image.check),
    "cluster": Step(
        "cluster",
        "the local Kubernetes cluster's binaries, runtime packages and pause image",
        kube_step.run,
        kube_step.check,
    ),
}
