"""The tracking servers' logins in the operator's process, each one sent only to its own server.

A stack whose tracking server runs MLflow's basic auth exports its login as the secret output
`tracking_credentials`; `mlops.stacks.resolve` hands it to `remember`. One `mlops` process may talk to two
servers with different logins (`mlops promote --from dev --to staging`), so the login is not MLflow's
process-wide `MLFLOW_TRACKING_USERNAME`/`_PASSWORD`: a request auth provider (MLflow's `MLFLOW_TRACKING_AUTH`
hook) picks the login by the request's scheme, host and port. A server with no login remembered gets no
Authorization header, so a user's own `MLFLOW_TRACKING_USERNAME`/`_PASSWORD` still work for servers that no
stack describes.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlsplit

PROVIDER_NAME = "mlops-stack-logins"
AUTH_ENV = "MLFLOW_TRACKING_AUTH"

_logins: dict[str, tuple[str, str]] = {}
_lock = threading.Lock()
_installed = False


def origin(url: str) -> str:
    """`scheme://host:port` of a URL, the port made explicit, so `http://h` and `http://h:80` are one server."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}:{port}"


def login_for(url: str) -> tuple[str, str] | None:
    with _lock:
        return _logins.get(origin(url))


def remember(tracking_uri: str, username: str, password: str) -> None:
    """Send this login with every MLflow request of this process to the server at `tracking_uri`."""
    key = origin(tracking_uri)
    if not key:
        return
    with _lock:
        _logins[key] = (username, password)
    _install()


def _install() -> None:
    """Register the provider with MLflow once and select it for this process (and nothing it starts)."""
    global _installed
    if _installed:
        return
    from mlflow.tracking.request_auth.abstract_request_auth_provider import RequestAuthProvider
    from mlflow.tracking.request_auth.registry import _request_auth_provider_registry
    from requests.auth import AuthBase, HTTPBasicAuth

    class _PerServerLogin(AuthBase):
        def __call__(self, request: Any) -> Any:
            login = login_for(str(request.url))
            return HTTPBasicAuth(*login)(request) if login else request

    class _Provider(RequestAuthProvider):
        def get_name(self) -> str:
            return PROVIDER_NAME

        def get_auth(self) -> Any:
            return _PerServerLogin()

    # MLflow finds providers by entry point or in this registry; the registry keeps the package's metadata
    # free of a plugin that only the operator's process needs.
    _request_auth_provider_registry.register(_Provider)
    os.environ.setdefault(AUTH_ENV, PROVIDER_NAME)
    _installed = True
