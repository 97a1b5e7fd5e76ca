"""The policy pack as the Pulumi CLI starts it: `python -m pulumi.policy ENGINE infra/policy` with the stack's config.

This is the process the CLI's `pulumi-analyzer-policy-python` shim runs; the test talks to it over gRPC the way the
engine does, so the production flag is read from the same `PULUMI_CONFIG` environment the engine builds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = ROOT / "infra" / "policy"


def _start(config: dict[str, str] | None, stack: str) -> subprocess.Popen[bytes]:
    """The pack's process; `config` None starts it as current CLIs do, with the config sent later."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    if config is not None:
        env.update(
            {
                "PULUMI_CONFIG": json.dumps(config),
                "PULUMI_STACK": stack,
                "PULUMI_PROJECT": "mlops-platform",
                "PULUMI_DRY_RUN": "true",
            }
        )
    # The engine address is only used for logging by the policy SDK; the pack never dials it during these calls.
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=PACK_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def analyzer(request: pytest.FixtureRequest) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    config, stack = request.param
    process = _start(config, stack)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        if not line.isdigit():
            _, err = process.communicate(timeout=10)
            pytest.fail(f"policy pack did not start: {line!r} {err.decode()[-2000:]}")
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=20)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=10)


def _levels(stub: analyzer_pb2_grpc.AnalyzerStub) -> dict[str, int]:
    info = stub.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "mlops-guardrails"
    return {p.name: p.enforcementLevel for p in info.policies}


PROD = ({"mlops:target": '"kubernetes"', "mlops:production": "true"}, "prod")
DEV = ({"mlops:target": '"kubernetes"'}, "dev")
LATE = (None, "")
BAD_CONTAINER = {
    "kind": "docker:Container",
    "image": "x:latest",
    "user": "1000",
    "limits": {"cpus": 1, "memory_mb": 64},
    "ports": [{"internal": 80, "external": 8080, "host_ip": "0.0.0.0"}],
}


def _analyze(stub: analyzer_pb2_grpc.AnalyzerStub, props: dict[str, object]) -> dict[str, int]:
    properties = struct_pb2.Struct()
    json_format.ParseDict(props, properties)
    response = stub.Analyze(
        analyzer_pb2.AnalyzeRequest(type="pulumi-python:dynamic:Resource", urn="urn:x", name="x", properties=properties)
    )
    return {d.policyName: d.enforcementLevel for d in response.diagnostics}


@pytest.mark.parametrize("analyzer", [LATE], indirect=True)
def test_stack_configuration_sent_by_the_engine_sets_the_levels(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    assert _analyze(analyzer, BAD_CONTAINER) == {
        "docker-ports-on-loopback": analyzer_pb2.ADVISORY,
        "images-pinned": analyzer_pb2.ADVISORY,
    }
    analyzer.ConfigureStack(
        analyzer_pb2.AnalyzerStackConfigureRequest(
            stack="prod", project="mlops-platform", config={"mlops:production": "true"}
        )
    )
    assert _analyze(analyzer, BAD_CONTAINER) == {
        "docker-ports-on-loopback": analyzer_pb2.MANDATORY,
        "images-pinned": analyzer_pb2.MANDATORY,
    }
    analyzer.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(stack="dev", config={}))
    assert set(_analyze(analyzer, BAD_CONTAINER).values()) == {analyzer_pb2.ADVISORY}
    with pytest.raises(grpc.RpcError) as err:
        analyzer.ConfigureStack(
            analyzer_pb2.AnalyzerStackConfigureRequest(stack="prod", config={"mlops:production": "maybe"})
        )
    details = err.value.details() or ""
    assert "stack 'prod'" in details and "mlops:production" in details and "true | false" in details


@pytest.mark.parametrize("analyzer", [PROD], indirect=True)
def test_production_stack_gets_every_policy(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    levels = _levels(analyzer)
    assert set(levels.values()) == {analyzer_pb2.MANDATORY}
    assert len(levels) == 8
    properties = struct_pb2.Struct()
    json_format.ParseDict(
        {
            "kind": "docker:Container",
            "image": "x:latest",
            "user": "1000",
            "limits": {"cpus": 1, "memory_mb": 64},
            "ports": [{"internal": 80, "external": 8080, "host_ip": "0.0.0.0"}],
        },
        properties,
    )
    response = analyzer.Analyze(
        analyzer_pb2.AnalyzeRequest(type="pulumi-python:dynamic:Resource", urn="urn:x", name="x", properties=properties)
    )
    by_policy = {d.policyName: d.enforcementLevel for d in response.diagnostics}
    assert by_policy == {"docker-ports-on-loopback": analyzer_pb2.MANDATORY, "images-pinned": analyzer_pb2.MANDATORY}


@pytest.mark.parametrize("analyzer", [DEV], indirect=True)
def test_other_stacks_are_advisory_without_production_checks(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    levels = _levels(analyzer)
    assert levels.pop("production-serving-replicas") == analyzer_pb2.DISABLED
    assert levels.pop("production-disruption-budget") == analyzer_pb2.DISABLED
    assert levels.pop("production-serves-a-model") == analyzer_pb2.DISABLED
    assert levels.pop("production-tracking-auth") == analyzer_pb2.DISABLED
    assert set(levels.values()) == {analyzer_pb2.ADVISORY}
    properties = struct_pb2.Struct()
    json_format.ParseDict(
        {
            "kind": "docker:Container",
            "image": "x:latest",
            "user": "1000",
            "limits": {"cpus": 1, "memory_mb": 64},
            "ports": [{"internal": 80, "external": 8080, "host_ip": "127.0.0.1"}],
        },
        properties,
    )
    response = analyzer.Analyze(
        analyzer_pb2.AnalyzeRequest(type="pulumi-python:dynamic:Resource", urn="urn:x", name="x", properties=properties)
    )
    assert [(d.policyName, d.enforcementLevel) for d in response.diagnostics] == [
        ("images-pinned", analyzer_pb2.ADVISORY)
    ]


def test_bad_production_flag_stops_the_pack_with_a_clear_message() -> None:
    process = _start({"mlops:production": '"yes"'}, "prod")
    out, err = process.communicate(timeout=60)
    assert process.returncode != 0
    text = (out + err).decode()
    assert "stack 'prod'" in text and "mlops:production" in text and "true | false" in text
