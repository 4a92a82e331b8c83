"""An S3-compatible server for the tests: moto's server mode, a real HTTP server on loopback
(boto3 talks to it over the network as it would to S3 or MinIO; nothing of boto is mocked).

``s3_storage`` points STORAGES at a fresh bucket of it; pytest-django's ``settings`` restores
them afterwards, and Django's ``setting_changed`` drops the storages it had built (so
``default_storage`` and every FileField follow both changes)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from core.storage import storage_settings

REGION = "us-east-1"
_buckets = itertools.count(1)


@dataclass
class S3:
    endpoint_url: str
    bucket: str
    prefix: str
    client: Any  # a boto3 S3 client of its own, to look at the bucket behind the app's back

    def media_key(self, name: str) -> str:
        return f"{self.prefix}/media/{name}"

    def model_key(self, name: str) -> str:
        return f"{self.prefix}/models/{name}"

    def list_keys(self, under: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=under)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The server's address; one per test session, on a free loopback port."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_storage(s3_server: str, settings, monkeypatch, tmp_path) -> S3:
    """Media and model files in a new bucket of the test server, as ``IDOLSITE_S3_BUCKET`` and
    friends would set them."""
    import boto3
    from botocore.config import Config

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "idolsite-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "idolsite-test-secret")
    bucket = f"idolsite-test-{next(_buckets)}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name=REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **storage_settings(bucket=bucket, endpoint_url=s3_server, region=REGION, prefix="site"),
        "staticfiles": settings.STORAGES["staticfiles"],
    }
    settings.IDOLSITE_MODEL_CACHE_DIR = tmp_path / "model-cache"
    return S3(endpoint_url=s3_server, bucket=bucket, prefix="site", client=client)
