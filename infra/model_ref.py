"""Resolve the configured model reference to the pinned version the serving cluster runs.

Called once at program start (a lookup, not a resource): `models:/NAME@ALIAS` becomes
`models:/NAME/<version>` through the tracking server's REST API, so moving the alias and running
`pulumi up` rolls the new version out.

Nothing that is merely unreachable is read as "absent" (docs/design.md): a lookup ends in one of three
answers (`Lookup.kind`), and only a definite one may plan serving away.

- `found`: serve the version the tracking server named.
- `missing`: the server answered that the model, alias or version does not exist (HTTP 404 or
  `RESOURCE_DOES_NOT_EXIST`; for an alias of a model that exists, MLflow answers 400
  `INVALID_PARAMETER_VALUE` "Registered model alias NAME not found.", which counts too). A stack that
  never served plans no serving; a stack that serves keeps its version (and says so): an alias removed by
  mistake must not take production down.
- `failed`: anything else (refused, timeout, 401, 5xx, an answer we cannot read). The version deployed
  now is kept, with a warning; with no deployed version to keep, preview and up fail with a clear error.

`mlops:serving.requireModel` (on in production stacks) turns every answer but `found` into an error,
except on a stack's first deployment, which creates the very tracking server the reference lives in.

Where "the version deployed now" comes from: the operator (`mlops.stacks`) reads the stack's state
(its `serving_model_version_uri` output, which resolves only once the serving resources exist) through
the Automation API right before every preview/up, and hands it to the program in the environment variable
`contract.DEPLOYED_MODEL_ENV` as JSON `{"stack": ..., "deployed": bool, "served": "models:/..."}`. That
was chosen over the alternatives because it works the same for every target and backend, is read from
the state (not from the infrastructure, which may itself be what is unreachable), is keyed by stack (an
operator process that drives two stacks cannot hand one's version to the other), and, when it is absent
(a bare `pulumi up` not started by `mlops`), the program cannot mistake "unknown" for "never served": it
fails instead of planning serving away. A `StackReference` to the stack itself is not allowed, and a
dynamic resource that remembers its old inputs would decide too late (the program must know at start
whether serving resources exist at all).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Literal

import pulumi

from contract import DEPLOYED_MODEL_ENV, MODEL_URI_HELP, TRACKING_CREDENTIALS_ENV, ModelRef

log = logging.getLogger(__name__)

MISSING_CODE = "RESOURCE_DOES_NOT_EXIST"


class UnresolvedModel(pulumi.RunError, RuntimeError):
    """The serving model cannot be decided without risking an outage; the message says what to do.
    A `pulumi.RunError`, so preview and up print it without a traceback."""


@dataclass(frozen=True)
class Lookup:
    kind: Literal["found", "missing", "failed"]
    pinned: str = ""
    """`models:/NAME/VERSION` when found."""
    reason: str = ""


@dataclass(frozen=True)
class Deployed:
    """What the stack's state says is deployed (see the module docstring)."""

    deployed: bool
    """The stack has been deployed before (its tracking server exists in its state)."""
    served: str = ""
    """The pinned model its serving cluster runs now; empty when it serves nothing."""


def deployed_from_environment(stack: str) -> Deployed | None:
    """The operator's account of the stack's state, or None when the program was not started by `mlops`."""
    raw = os.environ.get(DEPLOYED_MODEL_ENV)
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        log.warning("%s is not JSON; ignoring it", DEPLOYED_MODEL_ENV)
        return None
    if not isinstance(data, dict) or data.get("stack") != stack:
        return None
    return Deployed(deployed=bool(data.get("deployed")), served=str(data.get("served") or ""))


def credentials_from_environment(stack: str) -> tuple[str, str] | None:
    """The tracking server's login the operator read from the stack's secret outputs (`TRACKING_CREDENTIALS_ENV`,
    set in its own process while this program runs), or None: a server without basic auth, or a first `up`."""
    try:
        data = json.loads(os.environ.get(TRACKING_CREDENTIALS_ENV) or "{}")
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("stack") != stack or not data.get("username"):
        return None
    return str(data["username"]), str(data.get("password") or "")


def _url(ref: ModelRef, base: str) -> str:
    if ref.alias:
        query = urllib.parse.urlencode({"name": ref.name, "alias": ref.alias})
        return f"{base}/api/2.0/mlflow/registered-models/alias?{query}"
    query = urllib.parse.urlencode({"name": ref.name, "version": ref.version})
    return f"{base}/api/2.0/mlflow/model-versions/get?{query}"


def _alias_not_found(ref: ModelRef, status: int, code: str, message: str) -> bool:
    """MLflow's answer for an alias the (existing) model does not have: a 400, not a 404."""
    return (
        bool(ref.alias)
        and status == 400
        and code == "INVALID_PARAMETER_VALUE"
        and message.strip() == f"Registered model alias {ref.alias} not found."
    )


def lookup(
    ref: ModelRef, tracking_url: str, timeout_s: float = 3.0, credentials: tuple[str, str] | None = None
) -> Lookup:
    """Ask the tracking server which version `ref` names (with basic auth when `credentials` are given)."""
    if not tracking_url:
        return Lookup("failed", reason="no tracking URL to ask")
    request = urllib.request.Request(_url(ref, tracking_url.rstrip("/")))
    if credentials is not None:
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = json.loads(response.read().decode("utf-8"))
        return Lookup("found", pinned=ModelRef.pinned(ref.name, body["model_version"]["version"]).uri)
    except urllib.error.HTTPError as err:
        try:
            answer = json.loads(err.read().decode("utf-8", "replace"))
            code, message = str(answer.get("error_code", "")), str(answer.get("message", ""))
        except (ValueError, AttributeError, OSError):
            code, message = "", ""
        if err.code == 404 or code == MISSING_CODE or _alias_not_found(ref, err.code, code, message):
            return Lookup("missing", reason=f"HTTP {err.code} {code}".strip())
        return Lookup("failed", reason=f"HTTP {err.code} {code}".strip())
    except (urllib.error.URLError, OSError, KeyError, TypeError, ValueError) as err:
        return Lookup("failed", reason=f"{type(err).__name__}: {err}")


def decide(model_uri: str, found: Lookup, deployed: Deployed | None, *, require_model: bool, where: str) -> str:
    """The pinned model to serve ("" for none) from a lookup and the stack's state, or `UnresolvedModel`."""
    if found.kind == "found":
        log.info("%s resolves to %s", model_uri, found.pinned)
        return found.pinned
    what = f"{model_uri} does not resolve at {where} ({found.reason})"
    if deployed is not None and not deployed.deployed:
        # The first deployment creates the tracking server the reference lives in: nothing can be there yet.
        log.warning(
            "%s: first deployment of this stack, no serving yet. Register and promote a model, then "
            "run `mlops env up` again.",
            what,
        )
        return ""
    if require_model:
        raise UnresolvedModel(
            f"{what}, and mlops:serving.requireModel is true: nothing is changed. Make the tracking server answer "
            f"and the reference exist (`mlops promote`), then run preview/up again."
        )
    if deployed is None:
        raise UnresolvedModel(
            f"{what}, and the serving version deployed now is unknown ({DEPLOYED_MODEL_ENV} is not set: run "
            "through `mlops env up|preview`, which reads it from the stack's state). Not planning serving away."
        )
    if deployed.served:
        log.warning("%s: keeping the version deployed now, %s.", what, deployed.served)
        return deployed.served
    if found.kind == "missing":
        log.warning(
            "%s: this stack serves nothing and still serves nothing. Register and promote a model "
            "(`mlops train`, `mlops promote`), then run `mlops env up` again.",
            what,
        )
        return ""
    raise UnresolvedModel(
        f"{what}, and this stack serves nothing now, so there is no version to keep: cannot tell whether the "
        "reference exists. Make the tracking server reachable, then run preview/up again."
    )


def resolve(
    model_uri: str,
    tracking_url: str,
    *,
    stack: str | None = None,
    require_model: bool = False,
    timeout_s: float = 3.0,
) -> str:
    """The pinned `models:/NAME/VERSION` to serve for `model_uri`, or "" for no serving (see the module doc).

    `stack` names the stack whose deployed version (`deployed_from_environment`) may be kept; without it,
    only a found reference resolves and anything else is an error.
    """
    if not model_uri:
        return ""
    try:
        ref = ModelRef.parse(model_uri)
    except ValueError:
        raise ValueError(f"not a model reference: {model_uri!r} ({MODEL_URI_HELP})") from None
    deployed = deployed_from_environment(stack) if stack else None
    found = lookup(ref, tracking_url, timeout_s, credentials_from_environment(stack) if stack else None)
    return decide(model_uri, found, deployed, require_model=require_model, where=tracking_url or "-")
