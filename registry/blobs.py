"""The local content-addressed artifact store under ``<home>/blobs`` (the default store).

A blob is written to ``<home>/tmp``, fsynced, then renamed to ``blobs/ab/abcdef...``: a reader
never sees a partial file under its final name. Rows are committed only after every blob of a
version is in place, so a crash leaves at most unreferenced blobs, which ``gc`` removes. The other
store, S3-compatible object storage, is :mod:`ddr.registry.s3store`; :mod:`ddr.registry.artifacts`
picks the store each file is in.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .errors import IntegrityError, RegistryIOError

CHUNK = 1 << 20
LOCAL = "local"  # the store URI of a home's own blobs folder


@dataclass(frozen=True)
class StoredFile:
    name: str
    sha256: str
    size: int
    store: str = field(default=LOCAL, compare=False)  # which artifact store holds it (a row's ``store`` column)


@dataclass(frozen=True)
class Blob:
    """One object in a store, as gc sees it."""

    key: str  # printable location (relative to the home, or the object key)
    sha256: str | None  # None for a temp file or an unfinished upload
    mtime: float
    upload_id: str | None = None  # an unfinished S3 multipart upload


class Put(NamedTuple):
    """What a store's ``put`` did: the content's sha256 and size, and whether the stored object is known
    to hold exactly those bytes now (written from them, or hashed in place) rather than taken on trust."""

    sha256: str
    size: int
    verified: bool


def sha256_file(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore:
    """Blobs under ``<root>/blobs``; temp files under ``<root>/tmp``."""

    uri = LOCAL

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.tmp = self.root / "tmp"

    def ensure(self) -> None:
        for folder in (self.blobs, self.tmp):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # name the folder that failed: the home itself, or a file in the way
                raise RegistryIOError(f"cannot create {folder} in registry home {self.root}: {exc.strerror}") from None

    def path(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256

    def put(self, source: Path) -> Put:
        """Copy ``source`` in (hashing while copying). Idempotent; the blob is verified either way."""
        self.ensure()
        tmp = self.tmp / f"{uuid.uuid4().hex}.part"
        h, size = hashlib.sha256(), 0
        try:
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            digest = h.hexdigest()
            final = self.path(digest)
            final.parent.mkdir(exist_ok=True)
            if final.exists() and sha256_file(final)[0] == digest:
                tmp.unlink()
            else:
                os.replace(tmp, final)
                _fsync_dir(final.parent)
            return Put(digest, size, True)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if exc.errno == errno.ENOSPC:
                raise RegistryIOError(f"registry home {self.root} is full; nothing was registered") from None
            raise RegistryIOError(f"cannot write artifact into {self.root}: {exc.strerror or exc}") from None

    def check(self, f: StoredFile, what: str) -> None:
        path = self.path(f.sha256)
        if not path.is_file():
            raise IntegrityError(f"{what}: file {f.name} is missing from the artifact store ({path})")
        digest, size = sha256_file(path)
        if digest != f.sha256 or size != f.size:
            raise IntegrityError(f"{what}: file {f.name} does not match its sha256 (store corrupted at {path})")

    def fetch(self, f: StoredFile, target: Path, what: str) -> None:
        """Verify ``f`` and copy it to ``target``."""
        self.check(f, what)
        shutil.copyfile(self.path(f.sha256), target)

    def all_blobs(self) -> list[Path]:
        if not self.blobs.is_dir():
            return []
        return [p for p in self.blobs.glob("*/*") if p.is_file()]

    def listing(self) -> list[Blob]:
        """Every blob and temp file (for gc)."""
        out = []
        temps = [p for p in self.tmp.iterdir() if p.is_file()] if self.tmp.is_dir() else []
        for p in self.all_blobs() + temps:
            try:
                out.append(Blob(str(p.relative_to(self.root)), p.name if p.parent != self.tmp else None, p.stat().st_mtime))
            except FileNotFoundError:  # renamed or removed meanwhile by a running registration
                continue
        return out

    def delete(self, blob: Blob) -> None:
        (self.root / blob.key).unlink(missing_ok=True)
