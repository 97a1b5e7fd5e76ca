"""`pulumi preview --policy-pack infra/policy` with the real CLI: the pack blocks in production, warns elsewhere.

Two programs: the platform's own (`local` stack config, which must pass every policy), and a small one
declaring a docker container that breaks two policies, previewed as a production and as a
non-production stack. Previews create nothing, so no Docker engine is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from tests.infra.test_model_ref import FakeTracking
from tests.support.paths import REPO, VENV
from tests.support.pulumi_stacks import environment, never_deployed, project_dir

PULUMI = VENV / "bin" / "pulumi"
PACK = REPO / "infra" / "policy"

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _cli() -> None:
    if not PULUMI.exists():
        pytest.skip(f"{PULUMI} is missing: run `make setup` (scripts/bootstrap.py) to install the Pulumi CLI")


def _pulumi(work: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PULUMI), *args, "--non-interactive"],
        cwd=work,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _preview(work: Path, env: dict[str, str], stack: str) -> subprocess.CompletedProcess[str]:
    init = _pulumi(work, env, "stack", "select", "--create", stack)
    assert init.returncode == 0, init.stderr
    return _pulumi(work, env, "preview", "--stack", stack, "--policy-pack", str(PACK), "--diff")


def _bad_project(root: Path, production: bool) -> Path:
    work = root / "bad"
    (work / "stacks").mkdir(parents=True, exist_ok=True)
    (root / "state").mkdir(exist_ok=True)
    (work / "Pulumi.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "policy-probe",
                "main": "program",
                "stackConfigDir": "stacks",
                "runtime": {"name": "python", "options": {"virtualenv": str(VENV)}},
            }
        )
    )
    (work / "program").mkdir(exist_ok=True)
    (work / "program" / "__main__.py").write_text(
        textwrap.dedent("""
        from infra.providers.docker import Container

        Container("web", name="probe-web", image="busybox:latest", network="none", labels={},
                  limits={"cpus": 0.5, "memory_mb": 64}, user="1000",
                  ports=[{"internal": 80, "external": 8080, "host_ip": "0.0.0.0"}])
    """)
    )
    stack = "prod" if production else "dev"
    (work / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": {"mlops:production": production}}))
    return work


@pytest.mark.parametrize("production", [True, False])
def test_violations_block_production_and_only_warn_elsewhere(tmp_path: Path, production: bool) -> None:
    env = environment(tmp_path)
    result = _preview(_bad_project(tmp_path, production), env, "prod" if production else "dev")
    out = result.stdout + result.stderr
    level = "[mandatory]" if production else "[advisory]"
    assert f"{level}  docker-ports-on-loopback" in out, out[-4000:]
    assert f"{level}  images-pinned" in out, out[-4000:]
    assert "port 8080 is published on 0.0.0.0" in out
    assert (result.returncode != 0) is production, out[-4000:]


def test_the_platform_program_passes_the_pack(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "stacks" / "Pulumi.local.yaml").read_text())["config"]
    mlops = {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith("mlops:")}
    # A stack name of its own, so nothing collides with a user's `local`.
    work = project_dir(tmp_path, "policytest", mlops)
    # The copied Pulumi.yaml names the virtualenv `.venv` relative to the project: the checkout's.
    (work / ".venv").symlink_to(VENV)
    env = {**environment(tmp_path), **never_deployed("policytest")}
    result = _preview(work, env, "policytest")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "mlops-guardrails" in out
    # A check whose input is only known once applied (an image built during the update) is reported as
    # not runnable in preview and runs again during `up`; anything else reported is a violation.
    reported = [line for line in out.splitlines() if "[advisory]" in line or "[mandatory]" in line]
    assert [line for line in reported if "can't run policy" not in line] == [], out[-4000:]


def _kubernetes_plugin_missing(env: dict[str, str]) -> str:
    """Why the kubernetes stacks cannot be previewed here, or empty."""
    wanted = version("pulumi-kubernetes").replace("a", "-alpha.", 1)
    listing = subprocess.run(
        [str(PULUMI), "plugin", "ls", "--json"], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    plugins = json.loads(listing.stdout or "[]") if listing.returncode == 0 else []
    if not any(
        p.get("name") == "kubernetes" and p.get("kind") == "resource" and p.get("version") == wanted for p in plugins
    ):
        return f"the kubernetes provider plugin {wanted} is not installed (scripts/bootstrap.py builds it)"
    return ""


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_kubernetes_stacks_pass_the_pack_without_a_cluster(
    tmp_path: Path, stack: str, request: pytest.FixtureRequest
) -> None:
    env = environment(tmp_path)
    missing = _kubernetes_plugin_missing(env)
    if missing:
        pytest.skip(missing)
    config = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    # The served model resolves (a stand-in tracking server answers), as on a stack that has one: prod
    # (requireModel, a mandatory pack) would otherwise rightly refuse to plan serving away.
    tracking = FakeTracking()
    request.addfinalizer(tracking.close)
    config["mlops:tracking"] = {**config["mlops:tracking"], "publicUrl": tracking.url}
    work = project_dir(tmp_path, stack, {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("mlops:")})
    (work / ".venv").symlink_to(VENV)
    # No cluster: the provider previews offline; the pack still sees every declared object.
    env["KUBECONFIG"] = str(tmp_path / "no-kubeconfig")
    assert _pulumi(work, env, "stack", "select", "--create", stack).returncode == 0
    for key in ("registryPassword", "postgresPassword", "artifactsAccessKeyId", "artifactsSecretAccessKey"):
        assert (
            _pulumi(work, env, "config", "set", "--secret", f"mlops:{key}", f"{key}-value", "--stack", stack).returncode
            == 0
        )
    result = _pulumi(work, env, "preview", "--stack", stack, "--policy-pack", str(PACK))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    reported = [line for line in out.splitlines() if "[advisory]" in line or "[mandatory]" in line]
    assert [line for line in reported if "can't run policy" not in line] == [], out[-4000:]
