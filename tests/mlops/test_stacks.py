"""The ml side's view of stacks: project discovery, passphrases, behaviour config and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops import stacks as environments
from mlops.stacks import Environment, EnvironmentUnavailable
from tests.support.paths import REPO


@pytest.fixture(autouse=True)
def _fresh_project_cache():
    environments.project.cache_clear()
    yield
    environments.project.cache_clear()


def _project(tmp_path: Path, stack_files: dict[str, str]) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: demo-project\nruntime: python\nmain: infra/\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    for stack, text in stack_files.items():
        (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(text)
    return tmp_path


def test_the_checkout_is_found_and_lists_its_stacks(monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("MLOPS_PROJECT_DIR", raising=False)
    project = environments.project()
    assert project.name == "mlops-platform"
    assert project.main == REPO / "infra" / "__main__.py"
    assert {"local", "dev", "staging", "prod"} <= set(project.stacks())


def test_a_stack_may_declare_a_public_default_passphrase(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "MLOPS_PROJECT_DIR",
        str(
            _project(
                tmp_path,
                {
                    "local": "config:\n  workspace:defaultPassphrase: open\n  mlops:target: docker\n",
                    "prod": "config:\n  mlops:target: kubernetes\n",
                },
            )
        ),
    )
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")
    assert environments.pulumi_env("local")["PULUMI_CONFIG_PASSPHRASE"] == "open"
    with pytest.raises(EnvironmentUnavailable, match="set PULUMI_CONFIG_PASSPHRASE"):
        environments.pulumi_env("prod")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "from-the-team-vault")
    assert "PULUMI_CONFIG_PASSPHRASE" not in environments.pulumi_env("prod")


def test_pulumi_runs_offline_with_the_file_backend_outside_the_repo(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_PROJECT_DIR", str(_project(tmp_path, {"local": "config:\n  mlops:target: docker\n"})))
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "x")
    env = environments.pulumi_env("local")
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == "1"
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "1"
    assert env["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'data' / 'mlops-platform' / 'state'}"


def test_unknown_environment_names_the_known_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_PROJECT_DIR", str(_project(tmp_path, {"local": "config: {}\n"})))
    with pytest.raises(EnvironmentUnavailable, match=r"Unknown environment 'qa'.*known: local"):
        environments.stack_config("qa")


def test_behaviour_config_is_plain_values_without_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "MLOPS_PROJECT_DIR",
        str(
            _project(
                tmp_path,
                {
                    "dev": (
                        "config:\n  mlops:promotion:\n    mode: dry_run\n  mlops:postgresPassword:\n    secure: abc\n"
                        "  kubernetes:context: x\n"
                    )
                },
            )
        ),
    )
    assert environments.stack_config("dev") == {"promotion": {"mode": "dry_run"}}


def test_a_missing_output_says_how_to_fix_it():
    env = Environment(
        name="dev",
        outputs={"tracking_uri": "http://127.0.0.1:5500", "serving_endpoint": ""},
        config={"monitoring": {"psiThreshold": 0.3}, "promotion": "oops"},
    )
    assert env.tracking_uri == "http://127.0.0.1:5500"
    with pytest.raises(EnvironmentUnavailable, match=r"no 'serving_endpoint' output.*mlops env up dev"):
        _ = env.serving_endpoint
    assert env.section("monitoring") == {"psiThreshold": 0.3}
    assert env.section("absent") == {}
    with pytest.raises(EnvironmentUnavailable, match="'mlops:promotion' must be a mapping"):
        env.section("promotion")
