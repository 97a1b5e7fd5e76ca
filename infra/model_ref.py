"""Resolve the configured model reference to the pinned version the serving cluster runs.

Called once at program start (a lookup, not a resource): `models:/NAME@ALIAS` becomes
`models:/NAME/<version>` through the tracking server's REST API, so moving the alias and running
`pulumi up` rolls the new version out. A reference that cannot be resolved (no tracking server yet,
no such model or alias) resolves to "" and the program creates no replicas.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request

from contract import MODEL_URI_HELP, ModelRef

log = logging.getLogger(__name__)


def _get(url: str, timeout_s: float) -> dict:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.loads(response.read().decode("utf-8"))


def resolve(model_uri: str, tracking_url: str, timeout_s: float = 3.0) -> str:
    """The pinned `models:/NAME/VERSION` for `model_uri`, or "" when it does not resolve."""
    if not model_uri:
        return ""
    try:
        ref = ModelRef.parse(model_uri)
    except ValueError:
        raise ValueError(f"not a model reference: {model_uri!r} ({MODEL_URI_HELP})") from None
    name, alias, version = ref.name, ref.alias, ref.version
    if not tracking_url:
        log.warning("no tracking URL reachable from here to resolve %s; serving nothing", model_uri)
        return ""
    base = tracking_url.rstrip("/")
    if alias:
        query = urllib.parse.urlencode({"name": name, "alias": alias})
        url = f"{base}/api/2.0/mlflow/registered-models/alias?{query}"
    else:
        query = urllib.parse.urlencode({"name": name, "version": version})
        url = f"{base}/api/2.0/mlflow/model-versions/get?{query}"
    try:
        found = _get(url, timeout_s)["model_version"]["version"]
    except (urllib.error.URLError, OSError, KeyError, ValueError) as err:
        log.warning(
            "%s does not resolve at %s (%s): no serving replicas this time. Train a model and "
            "give it the alias (`mlops train`, then `mlops promote`), then run `pulumi up` again.",
            model_uri,
            base,
            err,
        )
        return ""
    pinned = ModelRef.pinned(name, found).uri
    log.info("%s resolves to %s", model_uri, pinned)
    return pinned
