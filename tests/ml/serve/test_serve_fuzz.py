"""Nothing a client sends makes the real server answer 5xx or die (hypothesis against the running process)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ml.serve.serve_models import ServeProcess

pytestmark = pytest.mark.integration

ROW = {"age": 40.0, "income": 20000.0, "visits": 3, "region": "north", "plan": "pro", "member": True, "score": None}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)
mutated_rows = st.lists(
    st.fixed_dictionaries({}, optional={**{k: st.just(v) | json_values for k, v in ROW.items()}, "extra": json_values}),
    min_size=0,
    max_size=6,
)


def check(response: requests.Response) -> None:
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code >= 400:
        assert body["error"] and body["message"]
    else:
        assert len(body["predictions"]) >= 1


@pytest.fixture(scope="module")
def session() -> requests.Session:
    return requests.Session()


@FUZZ
@given(body=json_values)
def test_any_json_body(model_server: ServeProcess, session: requests.Session, body: Any) -> None:
    check(session.post(f"{model_server.url}/predict", json=body, timeout=10))


@FUZZ
@given(rows=mutated_rows, columnar=st.booleans())
def test_records_and_columns_with_mutated_values(
    model_server: ServeProcess, session: requests.Session, rows: list[dict[str, Any]], columnar: bool
) -> None:
    body: Any = rows
    if columnar:
        body = {"columns": {k: [r.get(k) for r in rows] for k in {k for r in rows for k in r}}}
    check(session.post(f"{model_server.url}/predict", data=json.dumps(body), timeout=10))


@FUZZ
@given(raw=st.binary(max_size=300), content_type=st.sampled_from(["application/json", "text/plain", "", "x/y"]))
def test_arbitrary_bytes(model_server: ServeProcess, session: requests.Session, raw: bytes, content_type: str) -> None:
    check(session.post(f"{model_server.url}/predict", data=raw, headers={"content-type": content_type}, timeout=10))


@FUZZ
@given(
    path=st.text(alphabet="abcdefghijklmnopqrstuvwxyz/._-%", max_size=20),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    request_id=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=200),
)
def test_paths_methods_and_headers(
    model_server: ServeProcess, session: requests.Session, path: str, method: str, request_id: str
) -> None:
    response = session.request(
        method, f"{model_server.url}/{path.lstrip('/')}", headers={"x-request-id": request_id}, timeout=10
    )
    assert response.status_code < 500, response.text
    assert len(response.headers["x-request-id"]) <= 128


def test_server_survived_the_fuzzing(model_server: ServeProcess) -> None:
    assert model_server.process.poll() is None
    assert requests.get(f"{model_server.url}/ready", timeout=5).status_code == 200
    assert requests.post(f"{model_server.url}/predict", json=[ROW], timeout=5).status_code == 200
