"""Where a one-row request's time goes inside `mlops serve`: stage timings and the top of a cProfile of the
whole ASGI call, in process (no socket, no HTTP parsing)."""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def profile(uri: str, work: Path, request_bodies: Callable[..., Any], iterations: int = 3000) -> str:
    import orjson
    import uvloop

    from ml.serve.app import ModelServer
    from ml.serve.loader import fetch
    from ml.serve.mlflow_scoring import decode_invocation, encode_predictions
    from ml.serve.settings import ServeSettings
    from ml.serve.state import ServerState
    from ml.serve.validate import validate_columns

    settings = ServeSettings.load({"model_uri": uri, "model_cache": work / "cache", "prediction_log": ""})
    state = ServerState(settings, fetch(uri, None, settings.model_cache))
    state.load()
    app = ModelServer(settings, state)
    predictor = state.require_ready()
    raw, _ = request_bodies(predictor.model, 1, predictor.manifest.name)["mlflow"]
    scope = {
        "type": "http",
        "path": "/invocations",
        "method": "POST",
        "headers": [(b"content-type", b"application/json")],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def loop(n: int) -> None:
        for _ in range(n):
            await app(scope, receive, send)

    def stage(fn: Callable[[], Any]) -> float:
        t = time.perf_counter()
        for _ in range(iterations):
            fn()
        return (time.perf_counter() - t) / iterations * 1e6

    schema = predictor.schema
    decoded = decode_invocation(raw, b"application/json", schema, max_rows=10_000)
    batch = validate_columns(decoded, schema, max_rows=10_000, reject_extra=True)
    result = predictor.predict(batch)

    def finish() -> None:
        state.observe("/invocations", "mlflow", 200, 0.001)
        encode_predictions(result.predictions)

    stages = {
        "orjson.loads": stage(lambda: orjson.loads(raw)),
        "decode dataframe_split": stage(lambda: decode_invocation(raw, b"application/json", schema, max_rows=10_000)),
        "validate + convert to numpy": stage(
            lambda: validate_columns(decoded, schema, max_rows=10_000, reject_extra=True)
        ),
        "features + predict (fast path)" if predictor.fast else "predict (full sklearn)": stage(
            lambda: predictor.predict(batch)
        ),
        "metrics + response JSON": stage(finish),
    }
    uvloop.run(loop(200))
    t = time.perf_counter()
    uvloop.run(loop(iterations))
    whole = (time.perf_counter() - t) / iterations * 1e6
    prof = cProfile.Profile()
    prof.enable()
    uvloop.run(loop(iterations))
    prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(12)
    lines = [f"- {k}: {v:.1f} us" for k, v in stages.items()]
    lines.append(f"- whole ASGI call in-process: {whole:.1f} us")
    top = "\n".join(text.getvalue().splitlines()[:40])
    return "\n".join(lines) + f"\n\ncProfile, top by own time, {iterations} one-row requests:\n```\n{top}\n```"
