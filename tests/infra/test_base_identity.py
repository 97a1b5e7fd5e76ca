"""The base image by identity: the bootstrap's record of what it pulled or built goes into every image's tag,
a preview without an engine plans the same tags as the deploy, and a build refuses a base tag that points at
anything else (real engine)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from contract import BASE_IMAGES_ENV
from infra import images
from infra.images.base import base_identity, record_path
from infra.providers.docker import ImageProvider
from mlops.stack_state import deployed_bases
from tests.support.paths import REPO

BASE = "mlops-base:bookworm-py311"


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bootstrap's record, in a cache of this test's own (no record yet)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(BASE_IMAGES_ENV, raising=False)
    path = record_path()
    path.parent.mkdir(parents=True)
    return path


def write(path: Path, name: str, image_id: str, repo_digest: str = "") -> None:
    path.write_text(json.dumps({name: {"id": image_id, "repo_digest": repo_digest, "recipe": "r", "origin": "x"}}))


def tags() -> dict[str, str]:
    return {role: spec.tag for role, spec in images.stack_specs("mlops-local", BASE).items()}


def test_every_tag_follows_the_recorded_identity_of_the_base(record: Path) -> None:
    unrecorded = tags()
    write(record, BASE, "sha256:" + "a" * 64)
    first = tags()
    write(record, BASE, "sha256:" + "b" * 64)  # the base made again: same name, another image
    again = tags()
    # Every image, those built FROM deps included, gets a new tag: nothing built on the old base is reused.
    assert all(first[role] != again[role] != unrecorded[role] for role in first), (first, again)
    write(record, BASE, "sha256:" + "b" * 64)
    assert tags() == again


def test_a_pulled_base_is_identified_by_its_repo_digest(record: Path) -> None:
    write(record, BASE, "sha256:" + "c" * 64, "python@sha256:" + "1" * 64)
    assert base_identity(BASE).identity == "python@sha256:" + "1" * 64
    assert base_identity(BASE).image_id == "sha256:" + "c" * 64
    pulled = tags()
    write(record, BASE, "sha256:" + "c" * 64, "python@sha256:" + "2" * 64)
    assert tags()["deps"] != pulled["deps"]


def test_the_base_of_another_stack_name_is_not_taken_for_this_one(record: Path) -> None:
    write(record, "mlops-base:other", "sha256:" + "d" * 64)
    assert base_identity(BASE).identity == ""
    assert images.specs(BASE)["deps"].base == base_identity(BASE)


def test_a_preview_without_an_engine_plans_the_tags_of_the_deploy(record: Path) -> None:
    """`python -m infra.images` is what the program computes; with no engine answering it reads the record."""
    write(record, BASE, "sha256:" + "e" * 64)
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(record.parents[3]), "DOCKER_HOST": "unix:///nonexistent"}
    done = subprocess.run(
        [sys.executable, "-m", "infra.images"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == tags()


def test_without_a_record_the_stack_state_says_what_the_images_were_built_from(
    record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed = "sha256:" + "f" * 64
    state = {
        "resources": [
            {"type": "pulumi:pulumi:Stack", "outputs": {}},
            {"inputs": {"kind": "docker:Image", "base_image": BASE, "base_id": deployed, "base_identity": deployed}},
            {"inputs": {"kind": "docker:Image", "base_image": "", "base_id": ""}},  # built FROM deps
            {"inputs": {"kind": "docker:Container", "base_image": "x", "base_id": "y"}},
        ]
    }
    assert deployed_bases(state) == {BASE: {"identity": deployed, "id": deployed}}
    monkeypatch.setenv(BASE_IMAGES_ENV, json.dumps(deployed_bases(state)))
    from_state = tags()
    write(record, BASE, deployed)
    assert tags() == from_state, "the state's identity must give the tags the deploy made"
    write(record, BASE, "sha256:" + "0" * 64)
    assert tags() != from_state, "this machine's record wins over the state"


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.integration
def test_a_build_from_a_base_tag_that_points_elsewhere_is_refused(tmp_path: Path) -> None:
    """Real engine: the test's own base tag, first given to another image (refused, nothing built), then to
    the recorded one (built)."""
    if _docker("image", "inspect", BASE).returncode != 0:
        pytest.skip(f"no engine or no {BASE}: run scripts/bootstrap.py --steps docker,base-image")
    name = f"mlops-basecheck-{uuid.uuid4().hex[:6]}"
    base_tag, other_tag, built = f"{name}/base:t", f"{name}/other:t", f"{name}/derived"
    (tmp_path / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nLABEL mlops.test=basecheck\n")
    expected = _docker("image", "inspect", "--format", "{{.Id}}", BASE).stdout.strip()
    props = {
        "kind": "docker:Image",
        "repository": built,
        "tag": "1",
        "dockerfile": str(tmp_path / "Dockerfile"),
        "context": str(tmp_path),
        "files": [],
        "build_args": {"BASE_IMAGE": base_tag},
        "labels": {},
        "push": False,
        "base_image": base_tag,
        "base_id": expected,
    }
    try:
        assert _docker("build", "-q", "-t", other_tag, "--label", "other=1", "--build-arg", f"BASE_IMAGE={BASE}",
                       str(tmp_path)).returncode == 0  # fmt: skip
        _docker("tag", other_tag, base_tag)
        with pytest.raises(RuntimeError) as refused:
            ImageProvider().create(props)
        message = str(refused.value)
        assert f"base image {base_tag} is sha256:" in message and f"not the {expected}" in message
        assert f"docker rmi {base_tag}" in message and "--steps base-image" in message
        assert _docker("image", "inspect", f"{built}:1").returncode != 0, "built FROM the unexpected base"
        _docker("tag", BASE, base_tag)
        assert ImageProvider().create(props).id == f"{built}:1"
    finally:
        _docker("rmi", "-f", f"{built}:1", other_tag, base_tag)


@pytest.mark.integration
def test_a_preview_with_no_engine_and_no_record_plans_what_the_last_deploy_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real Pulumi and engine: one platform image deployed with the machine's record of the base, then
    previewed as a CI runner would (no record, no engine): no change; then where the record names another
    base: the image is planned again under a new tag."""
    import pulumi

    from contract import stack_labels
    from infra.components.docker import build_image
    from mlops.stack_state import hand_deployed_model
    from tests.support.docker_objects import purge
    from tests.support.pulumi_stacks import stack, why_not_runnable

    reason = why_not_runnable()
    if reason:
        pytest.skip(reason)
    name = f"basehint-{uuid.uuid4().hex[:6]}"

    def program() -> None:
        component = pulumi.ComponentResource("mlops:test:Images", name)
        spec = images.specs(BASE)["registry"]
        build_image(component, spec, f"mlops-{name}/registry", stack_labels("mlops-platform", name), None, [])

    def selected() -> Any:
        chosen = stack(tmp_path, name, {}, program=program)
        hand_deployed_model(chosen)  # as `mlops env preview` and `up` do
        return chosen

    def planned() -> dict[str, int]:
        return {k: v for k, v in selected().preview().change_summary.items() if k != "same"}

    def machine(cache: str, image_id: str | None) -> None:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / cache))
        if image_id:
            record_path().parent.mkdir(parents=True, exist_ok=True)
            write(record_path(), BASE, image_id)

    base_id = _docker("image", "inspect", "--format", "{{.Id}}", BASE).stdout.strip()
    monkeypatch.delenv(BASE_IMAGES_ENV, raising=False)
    try:
        machine("deployer", base_id)
        selected().up()
        machine("ci-runner", None)
        monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        assert planned() == {}, "a preview with no record and no engine must plan what the deploy made"
        machine("another-base", "sha256:" + "9" * 64)
        assert planned() == {"replace": 1}, "another recorded base must rebuild the image under a new tag"
    finally:
        monkeypatch.delenv("DOCKER_HOST", raising=False)
        purge(name)
