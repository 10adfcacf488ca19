"""A real S3 API server for the object-storage tests: moto's standalone server in a subprocess.

The registry talks to it through boto3 exactly as it would to AWS S3 or MinIO: the endpoint comes
from ``AWS_ENDPOINT_URL`` and the credentials from the standard variables, set in the environment
so that CLI subprocesses see them too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """``moto_server`` on a free loopback port; ``client()`` is a boto3 client for it."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**S3_ENV, "AWS_ENDPOINT_URL": self.url}

    def start(self) -> S3Server:
        argv = [sys.executable, "-c", "from moto.server import main; main()", "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"moto_server exited {self.proc.returncode}") from None
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")

    def new_bucket(self) -> str:
        name = f"ddr-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def apply_env(monkeypatch, server: S3Server) -> None:
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "DDR_ARTIFACTS"):
        monkeypatch.delenv(k, raising=False)
    for k, v in server.env.items():
        monkeypatch.setenv(k, v)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
