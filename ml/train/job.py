"""What a launcher tells a training job about itself: `python -m ml.train --job FILE` (JSON).

A job runs from the trainer image, which has no `.git` and cannot see the operator's files, so the
launcher (`mlops.jobs`) hands it: the job identity tags (`job.name`, `job.image`) recorded on the run and
the version next to the lineage tags; the operator checkout's git commit; and, for a local dataset, the
artifact it uploaded and the sha256 of its bytes, which the job checks after downloading.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from ml.data import DataSourceError, LoadedData, load_dataset
from ml.gitinfo import GitInfo
from ml.spec import DatasetSpec


@dataclass(frozen=True)
class JobContext:
    tags: dict[str, str] = field(default_factory=dict)
    git: GitInfo | None = None
    data_uri: str | None = None
    """`runs:/RUN/data/dataset.SUFFIX` on the job's tracking server."""
    data_sha256: str | None = None
    search_id: str | None = None
    """Set when the config's search runs as jobs: the trials' runs carry it, the final job collects them."""

    @classmethod
    def load(cls, path: Path) -> JobContext:
        raw = json.loads(path.read_text())
        git = raw.get("git")
        return cls(
            tags={str(k): str(v) for k, v in (raw.get("tags") or {}).items()},
            git=None if git is None else GitInfo(str(git["commit"]), git.get("dirty")),
            data_uri=raw.get("data_uri"),
            data_sha256=raw.get("data_sha256"),
            search_id=raw.get("search_id"),
        )

    def fetch_data(self, spec: DatasetSpec, tracking_uri: str) -> LoadedData | None:
        """The uploaded dataset, hash checked, recorded under its artifact URI; None: read the spec's source."""
        if not self.data_uri:
            return None
        import mlflow

        scratch = Path(tempfile.mkdtemp(prefix="mlops-data-"))
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=self.data_uri, dst_path=str(scratch), tracking_uri=tracking_uri
            )
        except Exception as exc:
            raise DataSourceError(f"cannot download the uploaded dataset {self.data_uri}: {exc}") from exc
        source = spec.source.model_copy(update={"uri": Path(local).as_uri()})
        loaded = load_dataset(spec.model_copy(update={"source": source}))
        if loaded.sha256 != self.data_sha256:
            raise DataSourceError(
                f"the dataset downloaded from {self.data_uri} has sha256 {loaded.sha256}, not the uploaded "
                f"{self.data_sha256}: the artifact store returned other bytes than were uploaded; check it"
            )
        return replace(loaded, uri=self.data_uri)
