"""The deps and trainer images of the job tests, built like the infra builds them, under a test-only name.

Same Dockerfiles, same listed build context (`infra.images.stack_specs`), same build args and the host CA
bundle as a BuildKit secret (`infra.providers.docker` does the same), so the job runs what a stack runs.
The images carry a test label; `remove_images` takes them away at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from contract import LABEL_ROLE, LABEL_STACK
from infra.components.docker import ca_bundle
from infra.images import ImageSpec, stack_specs

TEST_PREFIX = "mlops-jobs-test"
"""Repository prefix of the test images (`mlops-jobs-test/deps:TAG`, `mlops-jobs-test/trainer:TAG`)."""
TEST_STACK_LABEL = "mlops-jobs-test"
BASE_IMAGE = "mlops-base:bookworm-py311"


def _build_command() -> list[str]:
    """Debian's 20.10 client builds with BuildKit built in; the client first on PATH may lack buildx."""
    docker_exe = shutil.which("docker")
    if docker_exe and subprocess.run([docker_exe, "buildx", "version"], capture_output=True).returncode == 0:
        return [docker_exe, "buildx", "build", "--load"]
    for exe in ("/usr/bin/docker", docker_exe):
        if exe and Path(exe).exists():
            return [exe, "build"]
    raise RuntimeError("no docker client that builds with BuildKit (need `docker buildx` or /usr/bin/docker)")


def image_exists(ref: str) -> bool:
    import docker

    try:
        docker.from_env().images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def build(spec: ImageSpec, ref: str, label: str = TEST_STACK_LABEL) -> None:
    """Build `spec` as `ref` from exactly its listed files, unless an image of that content tag exists."""
    if image_exists(ref):
        return
    args = [*_build_command(), "--file", str(spec.dockerfile), "--tag", ref]
    args += ["--label", f"{LABEL_STACK}={label}", "--label", f"{LABEL_ROLE}={spec.role}"]
    for key, value in sorted(spec.build_args.items()):
        args += ["--build-arg", f"{key}={value}"]
    if ca := ca_bundle():
        args += ["--secret", f"id=ca,src={ca}"]
    with tempfile.TemporaryDirectory(prefix="mlops-jobs-test-build-") as staging:
        for rel in spec.files:
            target = Path(staging) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(spec.root / rel, target)
        result = subprocess.run(
            [*args, staging], env={**os.environ, "DOCKER_BUILDKIT": "1"}, capture_output=True, text=True
        )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise RuntimeError(f"building {ref} failed:\n{tail}")


def trainer_images(prefix: str = TEST_PREFIX, label: str = TEST_STACK_LABEL) -> tuple[str, str]:
    """`(deps_ref, trainer_ref)`, built if missing. A suite with its own `prefix` and `label` keeps its images
    out of reach of another suite's `remove_images`, which may run at the same time."""
    specs = stack_specs(prefix, BASE_IMAGE)
    deps_ref = f"{prefix}/deps:{specs['deps'].tag}"
    trainer_ref = f"{prefix}/trainer:{specs['trainer'].tag}"
    build(specs["deps"], deps_ref, label)
    build(specs["trainer"], trainer_ref, label)
    return deps_ref, trainer_ref


def remove_images(label: str = TEST_STACK_LABEL) -> None:
    """Every image of the test label, trainers (built FROM deps) first; older sessions' ones too."""
    import docker

    client = docker.from_env()
    images = client.images.list(filters={"label": f"{LABEL_STACK}={label}"})
    for image in sorted(images, key=lambda i: i.labels.get(LABEL_ROLE) == "deps"):
        try:
            client.images.remove(image.id, force=True, noprune=False)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: a running container of another test session still uses it
                raise


if __name__ == "__main__":
    print(*trainer_images())
