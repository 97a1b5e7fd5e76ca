"""The few Kubernetes API calls a training Job needs, as plain HTTPS requests with a kubeconfig's credentials.

No Kubernetes client library is a dependency of the project (the local cluster drives `kubectl`); a Job's
life is a handful of REST calls (create, get, list, delete, a log stream), so `urllib` does it, with
the kubeconfig's CA, client certificate or bearer token. Exec credential plugins are not supported: the
error says to use a kubeconfig with a certificate or a token (e.g. a ServiceAccount's).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_KUBECONFIG = Path("~/.kube/config")
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
"""Where a pod finds its ServiceAccount's token and the cluster's CA, when its token is mounted."""


class KubeConfigError(RuntimeError):
    """The kubeconfig cannot be used; the message says why and what to do."""


class KubeApiError(RuntimeError):
    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}" if reason else f"{status}: {message}")
        self.status, self.reason, self.message = status, reason, message


class KubeUnreachable(RuntimeError):
    """The API server did not answer."""


def kubeconfig_path(configured: str) -> Path:
    """The stack's kubeconfig path, else the first file of $KUBECONFIG, else ~/.kube/config."""
    if configured:
        return Path(configured).expanduser()
    for entry in os.environ.get("KUBECONFIG", "").split(os.pathsep):
        if entry and Path(entry).expanduser().is_file():
            return Path(entry).expanduser()
    return DEFAULT_KUBECONFIG.expanduser()


def _named(entries: Any, name: str, what: str, path: Path) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, Mapping) and entry.get("name") == name:
            return dict(entry.get(what) or {})
    raise KubeConfigError(f"kubeconfig {path} has no {what} named {name!r}")


def _pem(data: Mapping[str, Any], key: str, base: Path) -> bytes | None:
    """`<key>-data` (base64) or `<key>` (a file path, relative to the kubeconfig's directory)."""
    if data.get(f"{key}-data"):
        return base64.b64decode(data[f"{key}-data"])
    if data.get(key):
        return (base / str(data[key])).expanduser().read_bytes()
    return None


def _ssl_context(cluster: Mapping[str, Any], user: Mapping[str, Any], base: Path) -> ssl.SSLContext:
    if cluster.get("insecure-skip-tls-verify"):
        context = ssl._create_unverified_context()
    else:
        ca = _pem(cluster, "certificate-authority", base)
        context = ssl.create_default_context(cadata=ca.decode() if ca else None)
    cert, key = _pem(user, "client-certificate", base), _pem(user, "client-key", base)
    if cert and key:
        # The ssl module loads a certificate only from files: a private directory, removed at once.
        with tempfile.TemporaryDirectory(prefix="mlops-kube-") as tmp:
            cert_file, key_file = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
            for path, content in ((cert_file, cert), (key_file, key)):
                path.touch(mode=0o600)
                path.write_bytes(content)
            context.load_cert_chain(str(cert_file), str(key_file))
    return context


@dataclass
class KubeApi:
    server: str
    context: ssl.SSLContext | None
    headers: dict[str, str] = field(default_factory=dict)
    token_file: Path | None = None
    """Read at every request: the kubelet rotates a pod's ServiceAccount token in place."""

    @classmethod
    def in_cluster(cls, environ: Mapping[str, str] | None = None, account: Path = SERVICE_ACCOUNT_DIR) -> KubeApi:
        """The API server as a pod reaches it: its Service's address, the pod's ServiceAccount token, the CA."""
        environ = os.environ if environ is None else environ
        host, port = environ.get("KUBERNETES_SERVICE_HOST", ""), environ.get("KUBERNETES_SERVICE_PORT", "443")
        token, ca = account / "token", account / "ca.crt"
        if not host or not token.is_file() or not ca.is_file():
            raise KubeConfigError(
                f"not in a pod with a ServiceAccount token (KUBERNETES_SERVICE_HOST {host!r}, {token}): the "
                "scheduled monitor retrains only as the CronJob the stack creates when it sets retrain.onDrift"
            )
        address = f"[{host}]" if ":" in host else host
        return cls(f"https://{address}:{port}", ssl.create_default_context(cafile=str(ca)), token_file=token)

    @classmethod
    def from_kubeconfig(cls, configured: str = "", context_name: str = "") -> KubeApi:
        path = kubeconfig_path(configured)
        if not path.is_file():
            raise KubeConfigError(
                f"no kubeconfig at {path}: is the cluster up (`mlops cluster up`), or set mlops:kubernetes.kubeconfig"
            )
        config = yaml.safe_load(path.read_text()) or {}
        name = context_name or config.get("current-context") or ""
        if not name:
            raise KubeConfigError(f"kubeconfig {path} has no current-context; set mlops:kubernetes.context")
        ctx = _named(config.get("contexts"), name, "context", path)
        cluster = _named(config.get("clusters"), str(ctx.get("cluster")), "cluster", path)
        user = _named(config.get("users"), str(ctx.get("user")), "user", path) if ctx.get("user") else {}
        if user.get("exec") or user.get("auth-provider"):
            raise KubeConfigError(
                f"kubeconfig {path} (context {name}) authenticates through a credential plugin, which `mlops train` "
                "cannot run: use a kubeconfig with a client certificate or a token (e.g. the training namespace's "
                "`launcher` ServiceAccount's)"
            )
        headers = {}
        token = user.get("token") or (
            (path.parent / user["tokenFile"]).read_text().strip() if user.get("tokenFile") else ""
        )
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif user.get("username"):
            basic = base64.b64encode(f"{user['username']}:{user.get('password', '')}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        server = str(cluster.get("server") or "").rstrip("/")
        if not server:
            raise KubeConfigError(f"kubeconfig {path}: cluster {ctx.get('cluster')!r} has no server")
        context = _ssl_context(cluster, user, path.parent) if server.startswith("https://") else None
        return cls(server, context, headers)

    def _open(self, method: str, path: str, body: Any, timeout: float | None, content_type: str) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.server + path, data=data, method=method)
        headers = dict(self.headers)
        if self.token_file is not None:
            headers["Authorization"] = f"Bearer {self.token_file.read_text().strip()}"
        for key, value in {**headers, "Accept": "application/json", "Content-Type": content_type}.items():
            request.add_header(key, value)
        try:
            return urllib.request.urlopen(request, timeout=timeout, context=self.context)
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode(errors="replace")
            try:
                status = json.loads(raw)
            except json.JSONDecodeError:
                status = {"message": raw.strip()}
            raise KubeApiError(exc.code, str(status.get("message") or raw), str(status.get("reason") or "")) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise KubeUnreachable(f"the Kubernetes API at {self.server} does not answer ({exc})") from exc

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout: float = 30,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        with self._open(method, path, body, timeout, content_type) as response:
            raw = response.read()
        return json.loads(raw) if raw else {}

    def get(self, path: str, **query: str) -> dict[str, Any]:
        suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
        return self.request("GET", path + suffix)

    def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("POST", path, dict(body))

    def delete(self, path: str, propagation: str = "Background") -> None:
        """Delete, the dependents too (a Job's pods); a missing object is already deleted."""
        try:
            self.request(
                "DELETE", path, {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
            )
        except KubeApiError as exc:
            if exc.status != 404:
                raise

    def lines(self, path: str, timeout: float | None = None, **query: str) -> Iterator[str]:
        """A streamed response (a followed log) line by line, as it arrives."""
        suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
        with self._open("GET", path + suffix, None, timeout, "application/json") as response:
            while raw := response.readline():
                yield raw.decode(errors="replace").rstrip("\n")
