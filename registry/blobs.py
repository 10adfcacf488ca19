"""Content-addressed artifact store under ``<home>/blobs``.

A blob is written to ``<home>/tmp``, fsynced, then renamed to ``blobs/ab/abcdef...``: a reader
never sees a partial file under its final name. Rows are committed only after every blob of a
version is in place, so a crash leaves at most unreferenced blobs, which ``gc`` removes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from .errors import IntegrityError, RegistryIOError

CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    name: str
    sha256: str
    size: int


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


class BlobStore:
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

    def put(self, source: Path) -> tuple[str, int]:
        """Copy ``source`` in (hashing while copying); returns (sha256, size). Idempotent."""
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
            return digest, size
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if exc.errno == errno.ENOSPC:
                raise RegistryIOError(f"registry home {self.root} is full; nothing was registered") from None
            raise RegistryIOError(f"cannot write artifact into {self.root}: {exc.strerror or exc}") from None

    def put_folder(self, folder: Path) -> list[StoredFile]:
        """Store every regular file below ``folder`` (names are paths relative to it, '/'-separated)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise IntegrityError(f"{folder}: artifact folder does not exist")
        files = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest, size = self.put(path)
            files.append(StoredFile(path.relative_to(folder).as_posix(), digest, size))
        if not files:
            raise IntegrityError(f"{folder}: artifact folder is empty")
        return files

    def check(self, f: StoredFile, what: str) -> None:
        path = self.path(f.sha256)
        if not path.is_file():
            raise IntegrityError(f"{what}: file {f.name} is missing from the artifact store ({path})")
        digest, size = sha256_file(path)
        if digest != f.sha256 or size != f.size:
            raise IntegrityError(f"{what}: file {f.name} does not match its sha256 (store corrupted at {path})")

    def materialize(self, files: list[StoredFile], dest: Path, what: str) -> Path:
        """Verify and copy ``files`` into a new folder ``dest`` (written to a temp name, then renamed)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=dest.parent))
        try:
            for f in files:
                self.check(f, what)
                target = staging / f.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.path(f.sha256), target)
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return dest

    def all_blobs(self) -> list[Path]:
        if not self.blobs.is_dir():
            return []
        return [p for p in self.blobs.glob("*/*") if p.is_file()]
