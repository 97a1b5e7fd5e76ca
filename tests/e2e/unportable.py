"""A classifier class that exists only in the test's Python path: a model pickled with it loads here but
not in the serving image, like a model that needs a package the image lacks."""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression


class LocalOnlyLogisticRegression(LogisticRegression):
    pass


def rewrap(pipeline):  # type: ignore[no-untyped-def]
    """The same fitted pipeline with its final estimator re-classed, so predictions are unchanged."""
    estimator = pipeline.steps[-1][1]
    estimator.__class__ = LocalOnlyLogisticRegression
    return pipeline
