"""The MLOps platform of one stack: settings -> platform -> stack outputs."""

import logging

import pulumi

from infra import model_ref, settings
from infra.environment import Platform

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

config = settings.load()
served = model_ref.resolve(
    config.serving.model_uri,
    config.tracking.public_url,
    stack=config.stack,
    require_model=config.serving.require_model,
)
platform = Platform("mlops", config, served)
for key, value in platform.outputs.items():
    pulumi.export(key, value)
