"""Bucket: an S3 bucket created when missing, for throwaway S3-compatible endpoints (`artifacts.createBucket`).

A team's real bucket is theirs (lifecycle, encryption, access policy); this exists for endpoints such as
the local cluster's moto server, which start empty. Delete leaves the bucket and its artifacts alone.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider


def _client(props: dict[str, Any]):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=props["endpoint"],
        region_name=props["region"],
        aws_access_key_id=props["access_key_id"],
        aws_secret_access_key=props["secret_access_key"],
    )


def _exists(props: dict[str, Any]) -> bool:
    from botocore.exceptions import ClientError

    try:
        _client(props).head_bucket(Bucket=props["bucket"])
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise  # unreachable or refused is not "absent"


class BucketProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        if not _exists(props):
            client = _client(props)
            if props["region"] == "us-east-1":
                client.create_bucket(Bucket=props["bucket"])
            else:
                client.create_bucket(
                    Bucket=props["bucket"], CreateBucketConfiguration={"LocationConstraint": props["region"]}
                )
        return CreateResult(id_=props["bucket"], outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in ("bucket", "endpoint", "region") if olds.get(key) != news.get(key)]
        changed = replaces or [k for k in ("access_key_id", "secret_access_key") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]):
        from pulumi.dynamic import UpdateResult

        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if not _exists(props):
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class Bucket(Resource, module="s3", name="Bucket"):
    def __init__(
        self,
        name: str,
        bucket: str,
        endpoint: str,
        region: str,
        access_key_id: pulumi.Input[str],
        secret_access_key: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "bucket": bucket,
            "endpoint": endpoint,
            "region": region,
            "access_key_id": pulumi.Output.secret(access_key_id),
            "secret_access_key": pulumi.Output.secret(secret_access_key),
        }
        super().__init__(BucketProvider(), name, props, opts)
