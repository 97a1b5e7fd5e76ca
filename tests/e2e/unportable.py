"""A classifier class that exists only in the test's Python path: a model pickled with it loads here but
not in the serving image, like a model that needs a package the image lacks."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sklearn.linear_model import LogisticRegression


class LocalOnlyLogisticRegression(LogisticRegression):
    pass


def rewrap(pipeline):  # type: ignore[no-untyped-def]
    """The same fitted pipeline with its final estimator re-classed, so predictions are unchanged."""
    estimator = pipeline.steps[-1][1]
    estimator.__class__ = LocalOnlyLogisticRegression
    return pipeline


def register_unportable(tracking_uri: str, model: str, good_version: str) -> str:
    """A good version of `model` re-classed with a class only this test can import, registered as the new challenger."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.models import Model

    from ml.mlflow_log import tracking_to
    from ml.promote.versions import get_version
    from ml.registry import tag_artifact_sha256

    good = get_version(tracking_uri, model, version=good_version)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    with tempfile.TemporaryDirectory() as tmp, tracking_to(tracking_uri):
        model_dir = good.download_model(Path(tmp) / "model")
        signature = Model.load(str(model_dir / "MLmodel")).signature
        companions = [
            good.download(name, Path(tmp) / "companions")
            for name in ("holdout.parquet", "reference_profile.json", "model_card.md")
        ]
        mlflow.set_experiment(model)
        with mlflow.start_run(run_name="unportable"):
            mlflow.log_metrics(dict(good.metrics))
            for path in companions:
                mlflow.log_artifact(str(path))
            # Pickled by reference to its module, as a model that needs a package the image lacks would be.
            info = mlflow.sklearn.log_model(
                rewrap(good.load()),
                name="model",
                signature=signature,
                serialization_format="cloudpickle",
                pip_requirements=["scikit-learn"],
                registered_model_name=model,
            )
    version = str(info.registered_model_version)
    for key, value in good.tags.items():
        client.set_model_version_tag(model, version, key, value)
    # Its own files' hash, not the good version's copied above: the refusal under test is the unportable class.
    tag_artifact_sha256(client, model, version)
    client.set_registered_model_alias(model, "challenger", version)
    return version
