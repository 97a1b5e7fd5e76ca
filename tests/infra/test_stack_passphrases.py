"""Which passphrase guards which stack's secrets (mlops.stacks): `local` its public one, `local-prod` one
generated for this user on first use, nothing else a default. Beside the stack files they read."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mlops import stacks as environments
from tests.support.paths import REPO


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    environments.project.cache_clear()
    monkeypatch.setenv("MLOPS_PROJECT_DIR", str(REPO))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    yield tmp_path
    environments.project.cache_clear()


def test_local_prod_gets_a_generated_passphrase_of_its_own(checkout: Path) -> None:
    env = environments.pulumi_env("local-prod")
    assert "PULUMI_CONFIG_PASSPHRASE" not in env
    path = Path(env["PULUMI_CONFIG_PASSPHRASE_FILE"])
    assert path == checkout / "data" / "mlops-platform" / "passphrases" / "local-prod"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    phrase = path.read_text()
    assert len(phrase) >= 32 and phrase != environments.pulumi_env("local")["PULUMI_CONFIG_PASSPHRASE"]
    assert environments.pulumi_env("local-prod")["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(path)
    assert path.read_text() == phrase, "a second use must reuse the passphrase, not make another"


def test_the_callers_passphrase_wins_and_no_file_is_made(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "from-the-vault")
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" not in environments.pulumi_env("local-prod")
    assert not (checkout / "data" / "mlops-platform" / "passphrases").exists()


def test_no_stack_file_holds_an_encryption_salt_of_the_public_passphrase_for_production() -> None:
    document = yaml.safe_load((REPO / "stacks" / "Pulumi.local-prod.yaml").read_text())
    assert "encryptionsalt" not in document
    assert "workspace:defaultPassphrase" not in document["config"]
