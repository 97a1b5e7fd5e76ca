"""The bootstrap's steps, in the order they run."""

from __future__ import annotations

from toolchain import base_image, docker_engine, pulumi_step
from toolchain.runner import Step

STEPS: dict[str, Step] = {
    "pulumi": Step("pulumi", "Pulumi CLI, Python language host and helpers", pulumi_step.run, pulumi_step.check),
    "docker": Step("docker", "a Docker engine that answers", docker_engine.run, docker_engine.check),
    "base-image": Step("base-image", "the base image of the platform's images", base_image.run, base_image.check),
}
