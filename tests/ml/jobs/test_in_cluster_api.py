"""`KubeApi.in_cluster`: the API server as a pod reaches it, over HTTPS checked against the pod's CA, with the
ServiceAccount token read at every request (the kubelet rotates it in place). A real TLS server on loopback
with a certificate made for the test stands in for the API server's address; no cluster runs here."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ml.jobs.kube_api import KubeApi, KubeConfigError, KubeUnreachable


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kube-test",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def _api_server(cert: Path, key: Path, seen: list[str]) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            raw = json.dumps({"kind": "JobList", "items": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _account(directory: Path, ca: Path, token: str) -> Path:
    account = directory / "serviceaccount"
    account.mkdir(exist_ok=True)
    (account / "ca.crt").write_bytes(ca.read_bytes())
    (account / "token").write_text(token + "\n")
    return account


def test_the_pods_token_is_sent_and_reread_at_every_request(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    seen: list[str] = []
    with _api_server(cert, key, seen) as port:
        account = _account(tmp_path, cert, "first-token")
        environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(port)}
        api = KubeApi.in_cluster(environ, account)
        assert api.server == f"https://127.0.0.1:{port}"
        assert api.get("/apis/batch/v1/namespaces/t/jobs", labelSelector="a=b") == {"kind": "JobList", "items": []}
        (account / "token").write_text("rotated-token")
        api.get("/apis/batch/v1/namespaces/t/jobs")
    assert seen == ["Bearer first-token", "Bearer rotated-token"]


def test_a_server_the_pods_ca_did_not_sign_is_refused(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    other_ca, _ = _certificate(other)
    seen: list[str] = []
    with _api_server(cert, key, seen) as port:
        environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(port)}
        api = KubeApi.in_cluster(environ, _account(tmp_path, other_ca, "secret-token"))
        with pytest.raises(KubeUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
            api.get("/apis/batch/v1/namespaces/t/jobs")
    assert seen == []  # the token never left the pod


def test_outside_a_pod_the_error_says_where_a_retrain_runs(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="only as the CronJob"):
        KubeApi.in_cluster({}, tmp_path)
