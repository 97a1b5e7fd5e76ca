"""The data contract at serving time: the dataset spec's nullable columns and unknown-category policy, laid
over the input schema of the model signature.

Training stores the contract in the MLmodel metadata (`ml.spec.SERVING_CONTRACT_KEY`). The known categories
are the spec's list when it has one, otherwise the ones the fitted encoder learned; a model logged without a
contract still gets its categories checked (and unknown ones counted) under the default policy, `accept`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ml.serve.schema import InputSchema
from ml.spec import SERVING_CONTRACT_KEY


def apply_contract(schema: InputSchema, metadata: Mapping[str, Any] | None, model: Any) -> InputSchema:
    rules: Mapping[str, Any] = ((metadata or {}).get(SERVING_CONTRACT_KEY) or {}).get("columns", {})
    fitted = fitted_categories(model)
    columns = []
    for col in schema.columns:
        rule = rules.get(col.name, {})
        listed = rule.get("categories")
        known = listed if listed is not None else fitted.get(col.name)
        columns.append(
            dataclasses.replace(
                col,
                # The pipeline imputes every column, so a nullable one may arrive null or not at all.
                required=col.required and not rule.get("nullable", False),
                categories=frozenset(map(str, known)) if known is not None and col.type == "string" else None,
                unknown=str(rule.get("unknown", "accept")),
            )
        )
    return InputSchema(tuple(columns))


def fitted_categories(model: Any) -> dict[str, list[Any]]:
    """Column -> categories a fitted one-hot or ordinal encoder learned, without the imputer's fill value."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    from ml.features import MISSING_CATEGORY

    steps = [s for _, s in model.steps] if isinstance(model, Pipeline) else [model]
    out: dict[str, list[Any]] = {}
    for step in steps:
        if not isinstance(step, ColumnTransformer):
            continue
        for _, trans, cols in step.transformers_:
            chain = [s for _, s in trans.steps] if isinstance(trans, Pipeline) else [trans]
            encoder = chain[-1] if chain else None
            if not isinstance(encoder, OneHotEncoder | OrdinalEncoder) or isinstance(cols, str | slice):
                continue
            names = [str(c) for c in cols] if all(isinstance(c, str) for c in cols) else []
            for name, cats in zip(names, encoder.categories_, strict=False):
                out[name] = [c for c in cats.tolist() if isinstance(c, str) and c != MISSING_CATEGORY]
    return out
