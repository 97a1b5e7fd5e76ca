"""Data a training job can reach, decided before the job starts, and the upload of a local dataset.

A job runs in a container on the training cluster, so it reaches `sklearn://` (bundled with the image),
`s3://` (the environment's S3-compatible store) and the environment's own tracking server. A local file is
uploaded first to the environment's artifact store through the tracking server: one run per content hash
in the `mlops-datasets` experiment, so the same bytes are never uploaded twice. The job downloads it and
checks the hash (`ml.train.job`). Any other source is refused with the reason, before anything starts.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ml.mlflow_log import run_links_off_stdout

if TYPE_CHECKING:
    from ml.spec import DatasetSpec

DATASETS_EXPERIMENT = "mlops-datasets"
TAG_SHA256 = "data.sha256"
TAG_ORIGIN = "data.origin"
ARTIFACT_DIR = "data"
PASS_THROUGH = ("sklearn", "s3")
_CHUNK = 1 << 20


class DataRefused(ValueError):
    """The job could not reach this data; the message says why and what to do."""


@dataclass(frozen=True)
class PassThrough:
    """The job reads the source itself, exactly as the spec says."""

    uri: str


@dataclass(frozen=True)
class LocalFile:
    """A file on the operator's machine that must be uploaded before the job starts."""

    path: Path


DataPlan = PassThrough | LocalFile


def plan_data(uri: str, base_dir: Path) -> DataPlan:
    """What a job does with the dataset source `uri` (relative paths are relative to `base_dir`)."""
    scheme = urlparse(uri).scheme
    if scheme in PASS_THROUGH:
        return PassThrough(uri)
    if scheme in ("", "file"):
        from ml.data import resolve_local_path

        path = resolve_local_path(uri, base_dir)
        if not path.is_file():
            raise DataRefused(
                f"data file {path} (source.uri {uri!r}) does not exist; fix source.uri in the dataset spec"
            )
        return LocalFile(path)
    raise DataRefused(
        f"a training job cannot read source.uri {uri!r}: scheme {scheme!r} is not one of sklearn://, s3:// or a "
        "local file. Copy the data to the environment's S3 store (s3://...) or to a local file (uploaded for "
        "the job), or train in this process with --where local"
    )


def plan_for(spec: DatasetSpec) -> DataPlan:
    return plan_data(spec.source.uri, spec.base_dir)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_name(path: Path) -> str:
    """The uploaded file's name: fixed stem, original suffix (the format of a spec without `format:`)."""
    return f"dataset{path.suffix.lower()}"


def run_name(sha256: str) -> str:
    return f"sha256-{sha256[:16]}"


def lookup_filter(sha256: str) -> str:
    """The runs query that finds a finished upload of these bytes."""
    return f"tags.`{TAG_SHA256}` = '{sha256}' and attributes.status = 'FINISHED'"


@dataclass(frozen=True)
class UploadedDataset:
    uri: str
    """`runs:/RUN/data/dataset.SUFFIX`: resolved through the tracking server by whoever reads it."""
    sha256: str
    origin: Path
    uploaded: bool
    """False when the same bytes were already in the store."""


def upload_dataset(path: Path, tracking_uri: str) -> UploadedDataset:
    """Upload `path` to the environment's artifact store unless the same bytes are already there."""
    from mlflow import MlflowClient

    sha256 = file_sha256(path)
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(DATASETS_EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(DATASETS_EXPERIMENT)
    found = client.search_runs([experiment_id], filter_string=lookup_filter(sha256), max_results=1)
    if found:
        run = found[0]
        names = [a.path for a in client.list_artifacts(run.info.run_id, ARTIFACT_DIR) if not a.is_dir]
        if names:
            return UploadedDataset(f"runs:/{run.info.run_id}/{names[0]}", sha256, path, uploaded=False)
    run = client.create_run(experiment_id, run_name=run_name(sha256), tags={TAG_SHA256: sha256, TAG_ORIGIN: str(path)})
    run_id = run.info.run_id
    try:
        name = artifact_name(path)
        with tempfile.TemporaryDirectory(prefix="mlops-dataset-") as staging:
            staged = Path(staging) / name
            shutil.copyfile(path, staged)
            client.log_artifact(run_id, str(staged), ARTIFACT_DIR)
    except BaseException:
        # A half-done upload is never found by the lookup (it only matches FINISHED runs).
        with run_links_off_stdout():
            client.set_terminated(run_id, "FAILED")
        raise
    with run_links_off_stdout():
        client.set_terminated(run_id, "FINISHED")
    return UploadedDataset(f"runs:/{run_id}/{ARTIFACT_DIR}/{name}", sha256, path, uploaded=True)
