"""The workflows lint clean with actionlint, and keep the properties the platform's CI/CD relies on."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import REPO as ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci.yml", "preview.yml", "deploy.yml", "promote.yml", "monitor.yml")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _actionlint() -> str:
    candidates = [Path(sys.executable).parent / "actionlint", ROOT / ".venv" / "bin" / "actionlint"]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("actionlint")
    if found:
        return found
    pytest.fail(
        "actionlint is not installed: run `python3 scripts/bootstrap.py --steps tools` (it installs actionlint "
        "into .venv/bin from the Go module proxy), then run the tests again."
    )


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the bare key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _runs(workflow: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in _steps(workflow))


def test_actionlint_passes_on_every_workflow() -> None:
    files = [str(WORKFLOWS / name) for name in NAMES]
    result = subprocess.run([_actionlint(), *files], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"actionlint found problems:\n{result.stdout}{result.stderr}"


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    # Guards the test above: a linter that accepted anything would make it pass for nothing.
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n      - uses: actions/checkout@v4\n"
        "        with: {no-such-input: 1}\n"
    )
    result = subprocess.run([_actionlint(), str(broken)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "potentially untrusted" in result.stdout


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_to_commits(name: str) -> None:
    uses = [step["uses"] for step in _steps(_load(name)) if "uses" in step]
    assert uses, f"{name} uses no action at all"
    unpinned = [u for u in uses if not PINNED.match(u)]
    assert not unpinned, f"{name}: pin these to a full commit SHA: {unpinned}"


@pytest.mark.parametrize("name", NAMES)
def test_permissions_are_least_privilege(name: str) -> None:
    workflow = _load(name)
    assert workflow.get("permissions") == {"contents": "read"}, f"{name}: top-level permissions must be read-only"
    for job_name, job in workflow["jobs"].items():
        granted = job.get("permissions", {})
        assert granted != "write-all", f"{name}/{job_name} asks for write-all"
        writes = {k for k, v in granted.items() if v == "write"}
        allowed = {"pull-requests"} if (name, job_name) == ("preview.yml", "comment") else set()
        assert writes <= allowed, f"{name}/{job_name} asks for write access to {writes - allowed}"


@pytest.mark.parametrize("name", NAMES)
def test_no_secret_reaches_a_shell_command_line(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    for step in _steps(_load(name)):
        assert "secrets." not in step.get("run", ""), f"{name}: a secret is spliced into a script: {step}"
    assert "set -x" not in text, f"{name}: `set -x` would echo secret values"


def test_ci_runs_lint_and_the_readme_test_command_on_push_and_pull_request() -> None:
    workflow = _load("ci.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    runs = _runs(workflow)
    assert re.search(r"^make lint$", runs, re.M) and re.search(r"^make test$", runs, re.M)
    lint_recipe = (ROOT / "Makefile").read_text().split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check" in lint_recipe and "ruff format --check" in lint_recipe and "mypy" in lint_recipe
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme, "the README no longer shows `make test`: update ci.yml to its test command"


def test_preview_runs_on_pull_requests_touching_infra_or_stacks() -> None:
    workflow = _load("preview.yml")
    paths = workflow["on"]["pull_request"]["paths"]
    assert "infra/**" in paths and "stacks/Pulumi.*.yaml" in paths
    runs = _runs(workflow)
    assert "mlops ci preview-comment" in runs
    assert "--print-marker" in runs, "the comment must be found by its marker to be updated in place"
    assert "--method PATCH" in runs
    # The guardrails run in every preview, and the pack they name must exist.
    assert "--policy-pack infra/policy" in runs and (ROOT / "infra" / "policy" / "PulumiPolicy.yaml").is_file()
    preview_job = workflow["jobs"]["preview"]
    assert "matrix.stack" in preview_job["concurrency"]["group"]


def test_deploy_brings_up_dev_then_runs_the_e2e_smoke_test() -> None:
    workflow = _load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    runs = _runs(workflow)
    assert runs.index("mlops env up dev --yes") < runs.index("-m e2e")
    assert workflow["concurrency"] == {"group": "pulumi-dev", "cancel-in-progress": False}


def test_promote_is_manual_and_runs_in_the_target_environment() -> None:
    workflow = _load("promote.yml")
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"model", "from", "to", "request"}
    assert inputs["request"]["required"] is False and inputs["request"]["default"] == ""
    assert "prod" in inputs["to"]["options"] and "staging" in inputs["to"]["options"]
    job = workflow["jobs"]["promote"]
    assert job["environment"]["name"] == "${{ inputs.to }}"
    assert workflow["concurrency"]["group"] == "pulumi-${{ inputs.to }}"
    assert 'mlops promote "$MODEL" --from "$FROM" --to "$TO"' in _runs(workflow)
    assert "required reviewers" in (WORKFLOWS / "promote.yml").read_text()
    # The approval GitHub collected reaches `mlops promote`, which refuses prod without one.
    assert "actions/runs/$RUN_ID/approvals" in _runs(workflow) and "MLOPS_APPROVED_BY" in _runs(workflow)
    assert job["permissions"] == {"contents": "read", "actions": "read"}


def _promote_step(name: str, tmp_path: Path, **inputs: str) -> subprocess.CompletedProcess[str]:
    """A step of promote.yml run as GitHub runs it, with `.venv/bin/mlops` a script that records its arguments."""
    step = next(s for s in _load("promote.yml")["jobs"]["promote"]["steps"] if s.get("name") == name)
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True, exist_ok=True)
    (venv / "mlops").write_text('#!/bin/sh\nprintf "%s|" "$@" >> "$CALLS"; echo >> "$CALLS"; echo "# the request"\n')
    (venv / "mlops").chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "CALLS": str(tmp_path / "calls"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        **{key.upper(): value for key, value in inputs.items()},
    }
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]], env=env, cwd=tmp_path, capture_output=True, text=True
    )


def test_promote_promotes_a_request_into_the_environment_it_was_approved_for(tmp_path: Path) -> None:
    request = "0123456789abcdef0123456789abcdef"
    inputs = {"model": "breast-cancer", "from": "staging", "to": "prod", "request": request}
    shown = _promote_step("The promotion request", tmp_path, **inputs)
    assert shown.returncode == 0 and (tmp_path / "summary.md").read_text() == "# the request\n"
    assert _promote_step("mlops promote", tmp_path, **inputs).returncode == 0
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [
        f"promotions|staging|--request|{request}|",
        f"promote|--request|{request}|--env|staging|--to|prod|",
    ]
    (tmp_path / "calls").unlink()
    assert _promote_step("mlops promote", tmp_path, **{**inputs, "request": ""}).returncode == 0
    assert (tmp_path / "calls").read_text() == "promote|breast-cancer|--from|staging|--to|prod|\n"
    refused = _promote_step("Check the inputs", tmp_path, **{**inputs, "request": "x; rm -rf /"})
    assert refused.returncode == 1 and "is not a promotion request id" in refused.stdout
    assert _promote_step("Check the inputs", tmp_path, **inputs).returncode == 0


def _commit(repo: Path, message: str) -> str:
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", message],
        check=True,
    )
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_preview_selects_the_stacks_a_change_touches(tmp_path: Path) -> None:
    """The `changes` job's script, run as GitHub runs it, on a repository with four stacks."""
    script = next(s["run"] for s in _load("preview.yml")["jobs"]["changes"]["steps"] if s.get("id") == "stacks")
    repo = tmp_path / "repo"
    (repo / "stacks").mkdir(parents=True)
    (repo / "infra" / "images").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for stack in ("local", "dev", "staging", "prod"):
        (repo / "stacks" / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    (repo / "infra" / "images" / "server.Dockerfile").write_text("FROM base\n")
    commits = [_commit(repo, "base")]

    def selected(base: str, head: str) -> list[str]:
        output = tmp_path / "github_output"
        output.write_text("")
        env = {"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), "BASE_SHA": base, "HEAD_SHA": head}
        subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=repo, env=env, check=True, capture_output=True)
        key, _, value = output.read_text().strip().partition("=")
        assert key == "stacks"
        return list(json.loads(value))

    (repo / "stacks" / "Pulumi.dev.yaml").write_text("config: {mlops:target: docker}\n")
    commits.append(_commit(repo, "dev only"))
    assert selected(commits[0], commits[1]) == ["dev"]
    (repo / "infra" / "images" / "server.Dockerfile").write_text("FROM other\n")
    commits.append(_commit(repo, "an image"))
    assert selected(commits[1], commits[2]) == ["dev", "local", "prod", "staging"]
    (repo / "README.md").write_text("docs\n")
    commits.append(_commit(repo, "docs"))
    assert selected(commits[2], commits[3]) == []


def _stack_schedules() -> dict[str, str]:
    """Each stack's `mlops:monitoring.schedule`, for the stacks that set one."""
    schedules = {}
    for path in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        schedule = (config.get("mlops:monitoring") or {}).get("schedule")
        if schedule:
            schedules[path.name.removeprefix("Pulumi.").removesuffix(".yaml")] = schedule
    return schedules


def _monitor_select_step() -> dict[str, Any]:
    return next(s for s in _load("monitor.yml")["jobs"]["select"]["steps"] if s.get("id") == "pick")


def test_monitor_crons_are_the_stack_schedules() -> None:
    """GitHub cannot read the stacks: the workflow's cron entries and its table must equal them."""
    from contract import cron

    schedules = _stack_schedules()
    assert set(schedules) == {"dev", "staging", "prod"}, "dev, staging and prod schedule monitoring; local does not"
    for expression in schedules.values():
        cron.parse(expression)  # every scheduler of the platform accepts it
    workflow = _load("monitor.yml")
    crons = [entry["cron"] for entry in workflow["on"]["schedule"]]
    assert sorted(crons) == sorted(set(schedules.values())), "on.schedule must list each stack's schedule once"
    table = dict(line.split("=", 1) for line in _monitor_select_step()["env"]["SCHEDULES"].splitlines() if line)
    assert table == schedules
    assert sorted(workflow["on"]["workflow_dispatch"]["inputs"]["environment"]["options"]) == sorted(schedules)


def _select(event: str, fired: str = "", chosen: str = "", tmp_path: Path = Path("/tmp")) -> list[str]:
    step = _monitor_select_step()
    output = tmp_path / "github_output"
    output.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_OUTPUT": str(output),
        "EVENT": event,
        "FIRED": fired,
        "CHOSEN": chosen,
        "SCHEDULES": step["env"]["SCHEDULES"],
    }
    subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], env=env, check=True, capture_output=True)
    key, _, value = output.read_text().strip().partition("=")
    assert key == "environments"
    return list(json.loads(value))


def test_monitor_runs_the_environments_whose_schedule_fired(tmp_path: Path) -> None:
    """The `select` job's script, run as GitHub runs it."""
    schedules = _stack_schedules()
    for stack, expression in schedules.items():
        due = _select("schedule", fired=expression, tmp_path=tmp_path)
        assert due == [s for s, e in schedules.items() if e == expression] and stack in due
    assert _select("schedule", fired="1 2 3 4 5", tmp_path=tmp_path) == []
    assert _select("workflow_dispatch", chosen="staging", tmp_path=tmp_path) == ["staging"]


def test_monitor_checks_each_environment_with_its_secrets_and_keeps_the_reports() -> None:
    workflow = _load("monitor.yml")
    job = workflow["jobs"]["monitor"]
    assert job["strategy"]["matrix"]["environment"] == "${{ fromJSON(needs.select.outputs.environments) }}"
    assert job["environment"] == "${{ matrix.environment }}"
    assert job["concurrency"] == {"group": "monitor-${{ matrix.environment }}", "cancel-in-progress": False}
    assert 'mlops monitor --env "$ENVIRONMENT" --retrain --json --out monitoring-reports' in _runs(workflow)
    assert {"PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "MLFLOW_TRACKING_PASSWORD"} <= set(job["env"])
    (upload,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()"
    assert upload["with"]["path"].split() == ["monitoring-reports/report.html", "monitoring-reports/result.json"]


@pytest.mark.parametrize(
    ("code", "fails", "says"), [("0", 0, "healthy"), ("3", 3, "drift"), ("4", 4, "decay"), ("", 1, "failed")]
)
def test_monitor_fails_the_run_on_a_finding(code: str, fails: int, says: str) -> None:
    judge = next(s for s in _load("monitor.yml")["jobs"]["monitor"]["steps"] if s.get("name") == "Judge the result")
    env = {"PATH": os.environ["PATH"], "CODE": code, "ENVIRONMENT": "prod"}
    result = subprocess.run(["bash", "-eo", "pipefail", "-c", judge["run"]], env=env, capture_output=True, text=True)
    assert result.returncode == fails and says in result.stdout
