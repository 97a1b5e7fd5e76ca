"""Our Python language host (tools/pulumi-language-python), driven by the real Pulumi CLI.

Each test is a small project laid out like this repository's: Pulumi.yaml at the root with `main: program/`
and a relative `virtualenv: .venv` (a link to the repository's environment). State goes to a file backend in a
temporary directory and secrets use a passphrase, so nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv"
HOST_SOURCES = REPO / "tools" / "pulumi-language-python"
HOST = "pulumi-language-python"
EXEC_SCRIPT = "pulumi-language-python-exec"
DYNAMIC_LAUNCHER = "pulumi-resource-pulumi-python"
CLI_TIMEOUT = 300


@dataclass(frozen=True)
class Toolchain:
    pulumi: Path
    path: str  # PATH that finds the host and both helper scripts ahead of anything else


def _cli_dir() -> Path | None:
    candidates = [VENV / "bin"]
    if os.environ.get("PULUMI_BIN_DIR"):
        candidates.append(Path(os.environ["PULUMI_BIN_DIR"]))
    for directory in candidates:
        if os.access(directory / "pulumi", os.X_OK):
            return directory
    return None


def _sdk_module_dir(go: str) -> Path:
    """The sdk/v3 module the host is built against; it ships pulumi-language-python-exec."""
    go_mod = (HOST_SOURCES / "go.mod").read_text(encoding="utf-8")
    version = next(
        line.split()[-1] for line in go_mod.splitlines() if line.strip().startswith("github.com/pulumi/pulumi/sdk/v3 ")
    )
    out = subprocess.run(
        [go, "mod", "download", "-json", f"github.com/pulumi/pulumi/sdk/v3@{version}"],
        cwd=HOST_SOURCES,
        capture_output=True,
        text=True,
        check=True,
        timeout=CLI_TIMEOUT,
    )
    return Path(json.loads(out.stdout)["Dir"])


@pytest.fixture(scope="session")
def toolchain(tmp_path_factory: pytest.TempPathFactory) -> Toolchain:
    """The CLI from .venv/bin (then $PULUMI_BIN_DIR), with the language host installed next to it or, when it is
    not, built once from tools/pulumi-language-python for this session."""
    cli_dir = _cli_dir()
    if cli_dir is None:
        pytest.skip(
            "no Pulumi CLI: neither .venv/bin/pulumi nor $PULUMI_BIN_DIR/pulumi exists; run the bootstrap "
            "(python scripts/bootstrap.py) or set PULUMI_BIN_DIR to a directory holding `pulumi`"
        )
    if not (VENV / "bin" / "python").is_file():
        pytest.skip(f"no project virtualenv at {VENV}: the programs under test run in it")
    if all((cli_dir / name).is_file() for name in (HOST, EXEC_SCRIPT, DYNAMIC_LAUNCHER)):
        return Toolchain(pulumi=cli_dir / "pulumi", path=f"{cli_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    go = shutil.which("go")
    if go is None:
        pytest.skip(f"{HOST} is not installed next to {cli_dir / 'pulumi'} and `go` is not on PATH to build it")
    built = tmp_path_factory.mktemp("language-host")
    subprocess.run([go, "build", "-o", str(built / HOST), "."], cwd=HOST_SOURCES, check=True, timeout=CLI_TIMEOUT)
    exec_script = cli_dir / EXEC_SCRIPT
    if not exec_script.is_file():
        exec_script = _sdk_module_dir(go) / "python" / "cmd" / EXEC_SCRIPT
    shutil.copy(exec_script, built / EXEC_SCRIPT)
    shutil.copy(HOST_SOURCES / "launchers" / DYNAMIC_LAUNCHER, built / DYNAMIC_LAUNCHER)
    for name in (EXEC_SCRIPT, DYNAMIC_LAUNCHER):
        (built / name).chmod(0o755)
    path = os.pathsep.join([str(built), str(cli_dir), os.environ.get("PATH", "")])
    return Toolchain(pulumi=cli_dir / "pulumi", path=path)


@pytest.fixture(scope="session")
def pulumi_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pulumi-home")


@pytest.fixture
def pulumi_env(toolchain: Toolchain, pulumi_home: Path, tmp_path: Path) -> dict[str, str]:
    state = tmp_path / "state"
    state.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "VIRTUAL_ENV", "PYTHONHOME"))}
    env.update(
        PATH=toolchain.path,
        PULUMI_HOME=str(pulumi_home),
        PULUMI_BACKEND_URL=state.as_uri(),
        PULUMI_CONFIG_PASSPHRASE="correct horse battery staple",
        PULUMI_SKIP_UPDATE_CHECK="1",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="1",
        NO_COLOR="1",
    )
    return env


@dataclass(frozen=True)
class Project:
    root: Path
    env: dict[str, str]
    pulumi: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.pulumi), *args, "--color", "never"],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"pulumi {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def outputs(self) -> dict[str, object]:
        return json.loads(self.run("stack", "output", "--json", "--show-secrets").stdout)


def make_project(root: Path, env: dict[str, str], pulumi: Path, program: str, name: str = "lh-test") -> Project:
    (root / "program").mkdir(parents=True)
    (root / ".venv").symlink_to(VENV)
    (root / "Pulumi.yaml").write_text(
        f"name: {name}\n"
        "main: program/\n"
        "runtime:\n"
        "  name: python\n"
        "  options:\n"
        "    toolchain: pip\n"
        "    virtualenv: .venv\n",
        encoding="utf-8",
    )
    (root / "program" / "__main__.py").write_text(textwrap.dedent(program), encoding="utf-8")
    project = Project(root=root, env=env, pulumi=pulumi)
    project.run("stack", "init", "test")
    return project


GREETER = """
import sys

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class Greeter(ResourceProvider):
    def create(self, props):
        text = f"{props['greeting']}, {props['who']}!"
        return CreateResult(id_=text.replace(" ", "-"), outs={**props, "text": text, "python": sys.prefix})


class Greeting(Resource):
    text: pulumi.Output[str]
    python: pulumi.Output[str]

    def __init__(self, name, greeting, who, opts=None):
        super().__init__(Greeter(), name, {"greeting": greeting, "who": who, "text": None, "python": None}, opts)
"""

PROGRAM = (
    GREETER
    + """
config = pulumi.Config()
greeting = Greeting("hello", config.require("greeting"), config.get("who") or "world")
pulumi.export("greeting", config.require("greeting"))
pulumi.export("token", config.require_secret("token"))
pulumi.export("secret_keys", {
    "token": pulumi.runtime.is_config_secret("lh-test:token"),
    "greeting": pulumi.runtime.is_config_secret("lh-test:greeting"),
})
pulumi.export("text", greeting.text)
pulumi.export("provider_python", greeting.python)
pulumi.export("program_python", sys.prefix)
pulumi.export("context", [pulumi.get_organization(), pulumi.get_project(), pulumi.get_stack()])
pulumi.export("dry_run", pulumi.runtime.is_dry_run())
"""
)


@pytest.fixture
def project(tmp_path: Path, pulumi_env: dict[str, str], toolchain: Toolchain) -> Project:
    project = make_project(tmp_path / "project", pulumi_env, toolchain.pulumi, PROGRAM)
    project.run("config", "set-all", "--plaintext", "greeting=Hello", "--secret", "token=s3cret-value")
    return project


def _resources(project: Project) -> list[dict[str, object]]:
    return json.loads(project.run("stack", "export").stdout)["deployment"].get("resources") or []


def test_preview_up_and_destroy_with_config_secrets_and_a_dynamic_resource(project: Project) -> None:
    # One lifecycle in one test: every CLI call costs seconds on a busy machine.
    # With --logflow the CLI starts the host with --logtostderr -v=N ahead of the engine address.
    preview = project.run("preview", "--diff", "--logflow", "--logtostderr", "-v=5")
    assert "+ 2 to create" in preview.stdout, preview.stdout
    assert re.search(r"^\s+dry_run\s*: true$", preview.stdout, re.MULTILINE), preview.stdout
    assert "running program:" in preview.stderr and "--dry_run true" in preview.stderr
    assert _resources(project) == [], "a preview must change nothing"

    up = project.run("up", "--yes", "--skip-preview")
    assert "+ 2 created" in up.stdout, up.stdout
    outputs = project.outputs()
    assert outputs["greeting"] == "Hello"
    assert outputs["token"] == "s3cret-value"
    assert outputs["secret_keys"] == {"token": True, "greeting": False}
    assert outputs["text"] == "Hello, world!"
    assert outputs["context"] == ["organization", "lh-test", "test"]
    assert outputs["dry_run"] is False
    # The program and the dynamic provider both run in the project's environment, found relative to the
    # project root although the program lives in program/.
    assert Path(str(outputs["program_python"])).resolve() == VENV.resolve()
    assert Path(str(outputs["provider_python"])).resolve() == VENV.resolve()

    hidden = json.loads(project.run("stack", "output", "--json").stdout)
    assert hidden["token"] == "[secret]"
    state_files = [p for p in (project.root.parent / "state").rglob("*") if p.is_file()]
    assert state_files
    assert not any(b"s3cret-value" in p.read_bytes() for p in state_files), "a secret was stored in plain text"
    assert "pulumi-python:dynamic:Resource" in {r["type"] for r in _resources(project)}

    project.run("destroy", "--yes")
    assert _resources(project) == []


def test_install_verifies_the_existing_virtualenv(project: Project) -> None:
    result = project.run("install", "--no-plugins")
    venv = project.root / ".venv"
    assert f"Using virtual environment {venv}: {venv / 'bin' / 'python'}" in result.stdout, result.stdout
    assert "Pulumi Python SDK" in result.stdout


def test_install_fails_with_the_fix_when_the_sdk_is_missing(
    tmp_path: Path, pulumi_env: dict[str, str], toolchain: Toolchain
) -> None:
    root = tmp_path / "nosdk"
    root.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True, timeout=CLI_TIMEOUT)
    (root / "Pulumi.yaml").write_text(
        "name: lh-nosdk\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n", encoding="utf-8"
    )
    result = Project(root=root, env=pulumi_env, pulumi=toolchain.pulumi).run("install", "--no-plugins", check=False)
    assert result.returncode != 0
    assert "-m pip install pulumi" in result.stdout + result.stderr


def test_an_unhandled_exception_fails_the_update_with_its_message(
    tmp_path: Path, pulumi_env: dict[str, str], toolchain: Toolchain
) -> None:
    project = make_project(
        tmp_path / "broken",
        pulumi_env,
        toolchain.pulumi,
        """
        import pulumi
        raise RuntimeError("the program broke on purpose")
        """,
    )
    result = project.run("up", "--yes", "--skip-preview", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "the program broke on purpose" in output
    assert "Program failed with an unhandled exception" in output
    # Exit code 32 means the program already reported its error: the host must not add a second one.
    assert "non-zero exit code" not in output


def test_a_program_exit_code_is_reported(tmp_path: Path, pulumi_env: dict[str, str], toolchain: Toolchain) -> None:
    project = make_project(
        tmp_path / "exits",
        pulumi_env,
        toolchain.pulumi,
        """
        import sys
        sys.exit(3)
        """,
    )
    result = project.run("preview", check=False)
    assert result.returncode != 0
    assert "program exited with non-zero exit code: 3" in result.stdout + result.stderr


POLICY_PACK = """
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


def no_shouting(args, report_violation):
    if args.resource_type == "pulumi-python:dynamic:Resource" and str(args.props.get("greeting", "")).isupper():
        report_violation("greetings must not be shouted: " + args.props["greeting"])


PolicyPack(
    name="lh-test-policy",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(name="no-shouting", description="Greetings are not all caps.", validate=no_shouting)
    ],
)
"""


@pytest.fixture
def policy_pack(tmp_path: Path) -> Path:
    pack = tmp_path / "policy"
    pack.mkdir()
    (pack / ".venv").symlink_to(VENV)
    (pack / "PulumiPolicy.yaml").write_text(
        "description: test pack\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n", encoding="utf-8"
    )
    (pack / "__main__.py").write_text(POLICY_PACK, encoding="utf-8")
    return pack


def test_policy_pack_passes_a_compliant_stack_and_rejects_a_violating_one(project: Project, policy_pack: Path) -> None:
    passed = project.run("preview", "--policy-pack", str(policy_pack))
    assert "lh-test-policy" in passed.stdout, passed.stdout
    assert "no-shouting" not in passed.stdout

    project.run("config", "set", "greeting", "HELLO")
    rejected = project.run("preview", "--policy-pack", str(policy_pack), check=False)
    output = rejected.stdout + rejected.stderr
    assert rejected.returncode != 0, output
    assert "[mandatory]" in output and "no-shouting" in output
    assert "greetings must not be shouted: HELLO" in output


def test_about_reports_the_host_the_interpreter_and_the_plugins_of_installed_packages(
    tmp_path: Path, pulumi_env: dict[str, str], toolchain: Toolchain
) -> None:
    # An environment of its own holding one fake provider package, so the expected plugin list is known exactly.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=CLI_TIMEOUT)
    site = next(venv.glob("lib/python3*/site-packages"))
    meta = site / "pulumi_fakecloud-1.2.3rc4.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: pulumi_fakecloud\nVersion: 1.2.3rc4\n")
    (meta / "RECORD").write_text("pulumi_fakecloud/__init__.py,,\n")
    (site / "pulumi_fakecloud").mkdir()
    (site / "pulumi_fakecloud" / "__init__.py").write_text("")

    root = tmp_path / "about"
    root.mkdir()
    (root / "Pulumi.yaml").write_text(
        "name: lh-about\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n", encoding="utf-8"
    )
    (root / "venv").symlink_to(venv)
    project = Project(root=root, env=pulumi_env, pulumi=toolchain.pulumi)
    about = json.loads(project.run("about", "--json").stdout)

    plugins = {(p["kind"], p["name"]): p["version"] for p in about["plugins"]}
    cli_version = project.run("version").stdout.strip().removeprefix("v")
    assert plugins[("language", "python")] == cli_version
    assert plugins[("resource", "fakecloud")] == "1.2.3-rc.4"
    assert about["runtime"]["executable"] == str(root / "venv" / "bin" / "python")
    assert about["runtime"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert {"name": "pulumi-fakecloud", "version": "1.2.3rc4"} in about["dependencies"]


def test_automation_api_runs_up_on_the_local_program(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from pulumi import automation as auto

    for key in [k for k in os.environ if k.startswith("PULUMI_")]:
        monkeypatch.delenv(key)
    for key, value in project.env.items():
        monkeypatch.setenv(key, value)
    stack = auto.select_stack(stack_name="test", work_dir=str(project.root))
    result = stack.up(color="never")
    assert result.summary.result == "succeeded"
    assert result.outputs["text"].value == "Hello, world!"
    assert result.outputs["token"].secret is True
    assert result.outputs["token"].value == "s3cret-value"
