"""Docker resources as Pulumi dynamic resources over the Docker Engine API, one module per resource kind.

The names stay importable from here: the state of existing stacks refers to the providers by this path.
"""

from infra.providers.docker.container import Container, ContainerProvider, Healthcheck, Limits, Mount, Port
from infra.providers.docker.engine import client
from infra.providers.docker.image import Image, ImageProvider, RegistryLogin
from infra.providers.docker.network import Network, NetworkProvider
from infra.providers.docker.volume import Volume, VolumeProvider

__all__ = [
    "Container",
    "ContainerProvider",
    "Healthcheck",
    "Image",
    "ImageProvider",
    "Limits",
    "Mount",
    "Network",
    "NetworkProvider",
    "Port",
    "RegistryLogin",
    "Volume",
    "VolumeProvider",
    "client",
]
