"""`mlops env up` refuses early, with the fix, when another program holds a stack's port."""

from __future__ import annotations

import socket

import pytest

from mlops.preflight import PreflightFailed, check_docker_stack


@pytest.mark.integration
def test_a_port_held_by_another_program_is_named_with_its_key():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = {"target": "docker", "tracking": {"port": port}, "registry": {"port": 1}}
        with pytest.raises(PreflightFailed, match=rf"port {port} \(mlops:tracking.port of stack preflight-test\)"):
            check_docker_stack("mlops-platform", "preflight-test", config)


@pytest.mark.integration
def test_free_ports_pass():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_docker_stack("mlops-platform", "preflight-test", {"target": "docker", "serving": {"port": port}})


def test_other_targets_are_not_checked_here():
    check_docker_stack("mlops-platform", "dev", {"target": "kubernetes", "tracking": {"port": 1}})
