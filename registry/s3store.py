"""S3-compatible object storage as an artifact store (AWS S3, MinIO, Ceph, R2, moto's server).

Objects live at ``<prefix>blobs/ab/abcdef...`` in one bucket, content-addressed like the local store.
A PUT is atomic (S3 never shows a partial object under its key; an interrupted multipart upload stays
invisible until gc aborts it), and rows are committed only after every object of a version is in
place, so publish keeps its order: object first, row after.

The client is boto3 (AWS's own SDK): managed multipart transfers, retries, the standard credential
chain and ``AWS_ENDPOINT_URL`` for any S3-compatible server, and nothing more than the five calls
used here. It is imported only when an ``s3://`` store is used (``pip install 'ddr[s3]'``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ddr.errors import UsageError

from .blobs import CHUNK, Blob, Put, StoredFile, sha256_file
from .errors import IntegrityError, RegistryIOError

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9._\-/]*$")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (bucket, ``some/prefix/``); one-line error otherwise."""
    rest = uri.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    if not _BUCKET.match(bucket):
        raise UsageError(f"artifact store {uri!r}: {bucket!r} is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')")
    if not _PREFIX.match(prefix) or any(part in ("", ".", "..") for part in prefix.split("/") if prefix):
        raise UsageError(f"artifact store {uri!r}: the prefix may hold only letters, digits, '.', '_', '-' and single '/' between names")
    return bucket, f"{prefix}/" if prefix else ""


class S3Store:
    def __init__(self, uri: str) -> None:
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise UsageError(f"artifact store {self.uri} needs boto3: pip install 'ddr[s3]'") from None
        self._client = boto3.client("s3", config=Config(retries={"max_attempts": 5, "mode": "standard"}))

    def key(self, sha256: str) -> str:
        return f"{self.prefix}blobs/{sha256[:2]}/{sha256}"

    def _fail(self, exc: Exception, doing: str) -> RegistryIOError:
        return RegistryIOError(f"artifact store {self.uri}: {doing}: {_reason(exc)}")

    def ensure(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # noqa: BLE001 - botocore's errors, mapped to one line
            if _code(exc) in ("404", "NoSuchBucket"):
                raise RegistryIOError(f"artifact store {self.uri}: bucket {self.bucket!r} does not exist (create it first)") from None
            raise self._fail(exc, "cannot reach the bucket") from None

    def _head(self, sha256: str) -> dict | None:
        try:
            return self._client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except Exception as exc:  # noqa: BLE001
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._fail(exc, f"cannot read {self.key(sha256)}") from None

    def put(self, source: Path) -> Put:
        """Upload ``source`` unless an object with its sha256 and size is there (that one is taken on its
        metadata, so it counts as not verified)."""
        digest, size = sha256_file(Path(source))
        head = self._head(digest)
        if head is not None and head.get("ContentLength") == size and head.get("Metadata", {}).get("sha256") == digest:
            return Put(digest, size, False)
        try:
            self._client.upload_file(str(source), self.bucket, self.key(digest), ExtraArgs={"Metadata": {"sha256": digest}})
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, f"cannot upload {Path(source).name}; nothing was registered") from None
        return Put(digest, size, True)

    def fetch(self, f: StoredFile, target: Path, what: str) -> None:
        """Download ``f`` to ``target`` and check its sha256 and size."""
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=self.key(f.sha256))["Body"]
        except Exception as exc:  # noqa: BLE001
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                raise IntegrityError(f"{what}: file {f.name} is missing from the artifact store ({self.uri}/{self.key(f.sha256)[len(self.prefix):]})") from None
            raise self._fail(exc, f"cannot download {f.name} of {what}") from None
        h, size = hashlib.sha256(), 0
        try:
            with open(target, "wb") as out:
                while chunk := body.read(CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except OSError as exc:
            raise RegistryIOError(f"cannot write {target}: {exc.strerror or exc}") from None
        except Exception as exc:  # noqa: BLE001 - a connection dropped mid-body
            raise self._fail(exc, f"download of {f.name} of {what} broke off") from None
        if h.hexdigest() != f.sha256 or size != f.size:
            raise IntegrityError(f"{what}: file {f.name} does not match its sha256 (object corrupted at {self.uri}/{self.key(f.sha256)[len(self.prefix):]})")

    def check(self, f: StoredFile, what: str) -> None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="ddr-verify-") as tmp:
            self.fetch(f, Path(tmp) / "blob", what)

    def listing(self) -> list[Blob]:
        """Every object under ``<prefix>blobs/`` and every unfinished multipart upload (for gc)."""
        out: list[Blob] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{self.prefix}blobs/"):
                for obj in page.get("Contents", []):
                    out.append(Blob(obj["Key"], obj["Key"].rsplit("/", 1)[-1], obj["LastModified"].timestamp()))
            for page in self._client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=f"{self.prefix}blobs/"):
                for up in page.get("Uploads", []):
                    out.append(Blob(f"{up['Key']} (unfinished upload {up['UploadId'][:12]})", None, up["Initiated"].timestamp(), up["UploadId"]))
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "cannot list objects") from None
        return out

    def delete(self, blob: Blob) -> None:
        try:
            if blob.upload_id:
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=blob.key.split(" (", 1)[0], UploadId=blob.upload_id)
            else:
                self._client.delete_object(Bucket=self.bucket, Key=blob.key)
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, f"cannot delete {blob.key}") from None


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _reason(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    err = response.get("Error", {})
    if err:
        return f"{err.get('Code', '')} {err.get('Message', '')}".strip()
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
