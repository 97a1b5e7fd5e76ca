"""The webhook secret read from a real Pulumi stack (the real CLI, a file backend and a passphrase in a temp
dir): set as a secret it is encrypted in the stack file, the monitoring policy accepts that form, and the
operator reads it decrypted; a stack without one is an error that names the command setting it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml.monitor.thresholds import Thresholds
from mlops.loop.stack_secret import secret_of
from mlops.project import EnvironmentUnavailable
from tests.support import pulumi_stacks

pytestmark = pytest.mark.integration


@pytest.fixture
def secret_stack(tmp_path: Path) -> Iterator[tuple[str, Any, Path]]:
    if not (pulumi_stacks.VENV / "bin" / "pulumi").exists():
        pytest.skip("the Pulumi CLI is missing: run `make setup`")
    before = dict(os.environ)
    name = f"loop-secret-{uuid.uuid4().hex[:8]}"
    monitoring = {"promoteTo": "staging", "promotionRequest": {"webhookUrl": "https://hooks.example.com/mlops"}}
    try:
        selected = pulumi_stacks.stack(tmp_path, name, {"monitoring": monitoring}, program=lambda: None)
        yield name, selected, tmp_path / "project" / "stacks" / f"Pulumi.{name}.yaml"
    finally:
        os.environ.clear()
        os.environ.update(before)


def test_the_secret_is_encrypted_in_the_stack_file_accepted_by_the_policy_and_read_decrypted(
    secret_stack: tuple[str, Any, Path],
) -> None:
    from pulumi import automation as auto

    name, selected, stack_file = secret_stack
    with pytest.raises(
        EnvironmentUnavailable, match=r"pulumi config set --secret --path mlops:monitoring\.webhookSecret"
    ):
        secret_of(name, selected)
    selected.set_config("mlops:monitoring.webhookSecret", auto.ConfigValue("hmac-key-1", secret=True), path=True)

    written = stack_file.read_text()
    assert "hmac-key-1" not in written
    monitoring = yaml.safe_load(written)["config"]["mlops:monitoring"]
    assert set(monitoring["webhookSecret"]) == {"secure"}
    assert Thresholds.from_config(monitoring, stack=name).webhook_secret == "<secret>"
    assert secret_of(name, selected) == "hmac-key-1"
