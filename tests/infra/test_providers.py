"""Provider logic that needs no engine: diffs, content tags, generated secrets."""

from __future__ import annotations

from dataclasses import replace

from infra import images
from infra.providers.docker import ContainerProvider, ImageProvider
from infra.providers.secret import RandomSecretProvider


def test_container_diff_replaces_on_image_change_and_updates_limits_in_place() -> None:
    provider = ContainerProvider()
    old = {
        "kind": "docker:Container",
        "name": "a",
        "image": "x:1",
        "limits": {"cpus": 1.0, "memory_mb": 64},
        "ports": [{"internal": 1, "external": 2, "host_ip": "127.0.0.1", "protocol": "tcp"}],
    }
    replaced = provider.diff("id", old, {**old, "image": "x:2"})
    assert replaced.changes and replaced.replaces == ["image"]
    resized = provider.diff("id", old, {**old, "limits": {"cpus": 2.0, "memory_mb": 64}})
    assert resized.changes and resized.replaces == []
    assert provider.diff("id", old, {**old, "__provider": "other"}).changes is False


def test_image_diff_ignores_where_the_checkout_lives_but_not_the_content_tag() -> None:
    provider = ImageProvider()
    old = {"kind": "docker:Image", "repository": "r", "tag": "t1", "context": "/a", "dockerfile": "/a/x"}
    assert provider.diff("r:t1", old, {**old, "context": "/b", "dockerfile": "/b/x"}).changes is False
    assert provider.diff("r:t1", old, {**old, "tag": "t2"}).replaces == ["tag"]


def test_content_tags_follow_files_and_build_args() -> None:
    first = images.specs("mlops-base:bookworm-py311", deps_ref="d:1")
    again = images.specs("mlops-base:bookworm-py311", deps_ref="d:1")
    assert {r: s.tag for r, s in first.items()} == {r: s.tag for r, s in again.items()}
    rebased = images.specs("mlops-base:other", deps_ref="d:2")
    assert all(rebased[r].tag != first[r].tag for r in first)
    server = first["server"]
    assert replace(server, files=server.files[:-1]).tag != server.tag
    assert all(len(s.tag) == 20 for s in first.values())


def test_random_secret_is_kept_until_its_length_changes() -> None:
    provider = RandomSecretProvider()
    created = provider.create({"kind": "random:Secret", "length": 24})
    assert created.outs is not None and len(created.outs["value"]) == 24
    assert created.outs["value"] != provider.create({"kind": "random:Secret", "length": 24}).outs["value"]  # type: ignore[index]
    same = provider.diff(created.id, created.outs, {"kind": "random:Secret", "length": 24})
    assert same.changes is False
    assert provider.diff(created.id, created.outs, {"kind": "random:Secret", "length": 32}).replaces == ["length"]
