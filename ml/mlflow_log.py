"""Everything the pipeline writes to MLflow about a run: parameters, metrics, tags, lineage, artifacts and
the model itself.

Speed matters here (tracking must not dominate training): parameters, metrics and tags go in one
``log_batch`` request, artifacts in one directory upload, and the model's pip requirements are spelled
out instead of inferred (inference imports the model in a subprocess and costs seconds).

MLflow checks the pinned requirements against the installed distributions on every ``log_model``, twice
(once when saving, once when it reloads the model to validate the input example). The check maps every
installed module to its distribution by reading every RECORD file: about 0.4 s, most of a first run's
tracking time (benchmarks/train_bench.py). Our pins are read from those same distributions
(``model_pip_requirements``), so the check cannot find a mismatch, and it is skipped while logging.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.models.model import ModelInfo

    from ml.data import LoadedData
    from ml.spec import DatasetSpec

log = logging.getLogger(__name__)


@contextmanager
def run_links_off_stdout() -> Iterator[None]:
    """MLflow prints a run's URL to stdout when the run ends; a command's stdout is its own (a summary, or
    pure JSON for scripts), so the links stay off it for the block and the caller's setting comes back."""
    key = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
    previous = os.environ.get(key)
    os.environ[key] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous


MODEL_NAME_IN_RUN = "model"
# How the platform runs `mlflow server` (its image, the tests and the benchmarks). Job execution serves
# MLflow's GenAI features (scorers, prompt optimisation), which a scikit-learn platform does not use; left
# on, it starts five Huey consumer processes next to the server (about 1.2 GB of memory, and CPU that a
# just-started server's first requests compete with).
TRACKING_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
# What a pickled pipeline needs to load and predict; pinned to the versions that trained it.
MODEL_REQUIREMENTS = ("scikit-learn", "pandas", "numpy", "scipy", "skops")
RECORDED_PACKAGES = ("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "pyarrow", "skops")
# skops refuses to load types it does not know; these are the modules whose types we vouch for.
TRUSTED_TYPE_PREFIXES = ("ml.features.", "sklearn.", "numpy.")
# What the pipelines built by ml.estimators contain beyond skops' defaults (checked by the tests).
KNOWN_TRUSTED_TYPES = (
    "ml.features.QuantileClipper",
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


@functools.cache
def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not-installed"
    return versions


def model_pip_requirements(with_skops: bool = True) -> list[str]:
    versions = package_versions()
    names = [n for n in MODEL_REQUIREMENTS if with_skops or n != "skops"]
    return [f"mlflow=={versions['mlflow']}", *(f"{name}=={versions[name]}" for name in names)]


@contextmanager
def _requirements_pinned_from_this_environment() -> Iterator[None]:
    """Skip MLflow's installed-versus-required check while logging requirements from model_pip_requirements."""
    import mlflow.pyfunc
    import mlflow.utils.environment

    name = "warn_dependency_requirement_mismatches"
    modules = [m for m in (mlflow.utils.environment, mlflow.pyfunc) if hasattr(m, name)]
    originals = [getattr(m, name) for m in modules]
    for module in modules:
        setattr(module, name, lambda requirements: None)
    try:
        yield
    finally:
        for module, original in zip(modules, originals, strict=True):
            setattr(module, name, original)


@contextmanager
def tracking_to(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide tracking and registry URIs at ``uri`` for the block, then put back exactly
    what was there before, including unset.

    Both are pinned: ``models:/`` URIs resolve against the registry URI, which a caller (or an earlier
    ``set_registry_uri`` anywhere in the process) may have pointed at another server. ``set_tracking_uri``
    and ``set_registry_uri`` also export ``MLFLOW_TRACKING_URI`` and ``MLFLOW_REGISTRY_URI``, so the
    module-level values and the variables are saved and restored together; otherwise every later client and
    child process would stay pinned to this server.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_globals = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    saved_env = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = saved_globals
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def flatten_params(prefix: str, params: dict[str, Any]) -> dict[str, str]:
    return {f"{prefix}{key}": str(value) for key, value in sorted(params.items())}


def log_batch(run_id: str, params: dict[str, str], metrics: dict[str, float], tags: dict[str, str]) -> None:
    """Parameters, metrics and tags of a run in a single request."""
    import time

    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    mlflow.MlflowClient().log_batch(
        run_id,
        metrics=[Metric(key, float(value), now, 0) for key, value in metrics.items()],
        params=[Param(key, value[:6000]) for key, value in params.items()],
        tags=[RunTag(key, value) for key, value in tags.items()],
    )


def log_dataset_input(loaded: LoadedData, spec: DatasetSpec) -> None:
    """Dataset lineage on the run: URI, our content hash as the digest, and the schema.

    A metadata-only dataset: ``mlflow.data.from_pandas`` profiles the whole frame, which took minutes on
    a million rows here. The row count is in the ``data.rows`` tag.
    """
    import mlflow
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    try:
        source: Any = resolve_dataset_source(loaded.uri)
    except MlflowException:
        # MLflow has no source type for sklearn:// URIs; keep the URI as a tag of a generic source.
        source = CodeDatasetSource({"uri": loaded.uri})
    schema = infer_signature(loaded.frame.head(100)).inputs
    # MLflow's stubs mark `profile` abstract, but MetaDataset implements it (returns None) at runtime.
    dataset = MetaDataset(  # type: ignore[abstract]
        source=source, name=spec.name, digest=loaded.sha256[:36], schema=schema
    )
    mlflow.log_input(dataset, context="training")


def skops_trusted_types(model: Any) -> list[str]:
    """Types of ``model`` that skops does not trust by default, if all come from modules we vouch for.

    Costs a full serialisation, so it only runs when the known list below was not enough.
    """
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    foreign = [name for name in untrusted if not name.startswith(TRUSTED_TYPE_PREFIXES)]
    if foreign:
        raise ValueError(
            f"the model contains types from outside {TRUSTED_TYPE_PREFIXES}: {foreign}; "
            "only transformers from ml.features and scikit-learn can be logged"
        )
    return list(untrusted)


def log_sklearn_model(
    model: Any, input_example: pd.DataFrame, model_format: str = "pickle", contract: dict[str, Any] | None = None
) -> ModelInfo:
    """Log with signature, input example and pinned requirements, as ``pickle`` or ``skops``; the data
    contract (``DatasetSpec.serving_contract()``) makes nullable columns optional and goes to the metadata."""
    import warnings

    import mlflow.sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    from ml.spec import SERVING_CONTRACT_KEY, signature_with_contract

    with warnings.catch_warnings():
        # Integer outputs are class labels, never missing: MLflow's hint about nullable ints does not apply.
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        signature = infer_signature(input_example, model.predict(input_example))
    if contract is not None:
        signature = signature_with_contract(signature, contract)
    metadata = {SERVING_CONTRACT_KEY: contract} if contract is not None else None

    def log(**serialization: Any) -> ModelInfo:
        with _requirements_pinned_from_this_environment():
            return mlflow.sklearn.log_model(
                model,
                name=MODEL_NAME_IN_RUN,
                signature=signature,
                input_example=input_example,
                metadata=metadata,
                **serialization,
            )

    if model_format == "pickle":
        # MLflow logs a warning on every pickle save; the choice is documented on TrainingConfig.model_format.
        flavor_log = logging.getLogger("mlflow.sklearn")
        level = flavor_log.level
        flavor_log.setLevel(logging.ERROR)
        try:
            return log(
                pip_requirements=model_pip_requirements(with_skops=False),
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE,
            )
        finally:
            flavor_log.setLevel(level)

    skops = {
        "pip_requirements": model_pip_requirements(),
        "serialization_format": mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
    }
    try:
        return log(**skops, skops_trusted_types=list(KNOWN_TRUSTED_TYPES))
    except MlflowException as exc:
        if "untrusted types" not in str(exc):
            raise
        return log(**skops, skops_trusted_types=skops_trusted_types(model))


def log_artifact_dir(directory: Path) -> None:
    import mlflow

    mlflow.log_artifacts(str(directory))


def write_holdout(features: pd.DataFrame, target: pd.Series, target_name: str, path: Path) -> None:
    frame = features.copy()
    frame[target_name] = target.to_numpy()
    frame.reset_index(drop=True).to_parquet(path, index=False)
