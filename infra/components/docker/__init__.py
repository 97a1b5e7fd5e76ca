"""The docker target: every component as containers, volumes and images on one Docker engine.

Containers reach each other by name on the stack's own network; the host reaches them only through
ports published on 127.0.0.1, so nothing of the platform is exposed beyond this machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pulumi

from infra import images
from infra.components.types import Foundation
from infra.providers.docker import Healthcheck, Image, Network, RegistryLogin
from infra.settings import Settings

LOOPBACK = "127.0.0.1"


def ca_bundle() -> str:
    """The host CA bundle handed to image builds, so pip works behind TLS-inspecting proxies."""
    for candidate in (
        os.environ.get("SSL_CERT_FILE"),
        os.environ.get("REQUESTS_CA_BUNDLE"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return ""


def build_image(
    component: pulumi.ComponentResource,
    spec: images.ImageSpec,
    repo: str,
    image_labels: dict[str, str],
    registry: RegistryLogin | None,
    after: list[pulumi.Resource],
) -> Image:
    """One content-tagged platform image, built on this machine's engine (pushed when `registry` is given):
    both targets build their images here."""
    return Image(
        f"{component.pulumi_resource_name}-image-{spec.role}",
        repository=repo,
        tag=spec.tag,
        dockerfile=str(spec.dockerfile),
        context=str(spec.root),
        files=spec.files,
        labels=image_labels,
        build_args=dict(spec.build_args),
        registry=registry,
        ca_bundle=ca_bundle(),
        base_image=spec.base.name if spec.base else "",
        base_id=spec.base.image_id if spec.base else "",
        base_identity=spec.base.identity if spec.base else "",
        opts=pulumi.ResourceOptions(parent=component, depends_on=after),
    )


def foundation(parent: pulumi.Resource, settings: Settings) -> Foundation:
    network = Network(
        f"{parent.pulumi_resource_name}-network",
        name=settings.prefix,
        labels=settings.labels,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return Foundation(network=network.name)


def health(url: str, *codes: int, interval_s: float = 3, retries: int = 3, start_period_s: float = 0) -> Healthcheck:
    # A generous timeout: on a busy host even starting the probe's interpreter can take seconds.
    return {
        "test": ["CMD", "mlops-probe", url, *[str(c) for c in codes]],
        "interval_s": interval_s,
        "timeout_s": 10,
        "retries": retries,
        "start_period_s": start_period_s,
    }
