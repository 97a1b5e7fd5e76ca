"""A stand-in for GitHub's REST API on 127.0.0.1, for the loop tests: api.github.com cannot be reached from the
machines the tests run on, and a dispatch would start real workflow runs. It answers
`POST /repos/{owner}/{name}/actions/workflows/{workflow}/dispatches` as GitHub documents it: 204 with no body
for a request with a bearer token and a JSON body holding `ref` and string `inputs`, 401 without a token, 422
for a body it cannot use; `script` overrides the next statuses. Every call is recorded."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback_http import posts_answered_by

DISPATCHES = re.compile(r"^/repos/([^/]+/[^/]+)/actions/workflows/([^/]+)/dispatches$")


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class GitHubApi:
    url: str = ""
    token: str = ""
    script: list[int] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    def dispatched(self) -> list[tuple[str, str, Any]]:
        """(repository, workflow, body) of each dispatch GitHub accepted."""
        found = []
        for call in self.calls:
            matched = DISPATCHES.match(call.path)
            if matched and call.status == 204:
                found.append((matched.group(1), matched.group(2), call.body))
        return found


def _status(api: GitHubApi, path: str, headers: dict[str, str], body: Any) -> int:
    if api.script:
        return api.script.pop(0)
    if headers.get("authorization") != f"Bearer {api.token}":
        return 401
    if not DISPATCHES.match(path) or headers.get("accept") != "application/vnd.github+json":
        return 404
    inputs = body.get("inputs", {}) if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(body.get("ref"), str) or not isinstance(inputs, dict):
        return 422
    if not all(isinstance(v, str) for v in inputs.values()) or len(inputs) > 10:
        return 422
    return 204


@contextmanager
def github_api(token: str, script: list[int] | None = None) -> Iterator[GitHubApi]:
    api = GitHubApi(token=token, script=list(script or []))

    def answer(path: str, headers: dict[str, str], raw: bytes) -> int:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        status = _status(api, path, headers, body)
        api.calls.append(Call(path, headers, body, status))
        return status

    with posts_answered_by(answer) as api.url:
        yield api
