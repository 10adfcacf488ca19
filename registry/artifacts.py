"""Which artifact store holds what: the local blobs folder (default) or S3-compatible object storage.

A registry writes new files to one store (``--artifacts`` / ``DDR_ARTIFACTS``, else the store recorded
at ``init``, else ``local``) and records it on every file row (``artifact_file.store``); reads go to
the store a row names. So a team that shares a PostgreSQL registry and a bucket can work from homes
on different paths and machines: every home reads the same objects. A row in another home's
``local`` store cannot be read here, and says so.

Every store has the same small interface: ``uri``, ``ensure()``, ``put(path) -> Put``,
``fetch(file, target, what)`` (verified copy), ``check(file, what)``, ``listing()`` and ``delete(blob)``.

Every read is verified against the file's sha256. One command that reads and writes many files
(add-domain: load the live modules, read the earlier domains' gate data, register, activate) opens
:meth:`Artifacts.verifying_once`: inside it a file already verified (fetched, checked, or written from
bytes whose hash was just computed) is not downloaded and hashed again when the activation checks the
target's files. Outside it, as for ``alias set`` and ``rollback``, every check reads the file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from ddr.errors import UsageError

from .blobs import LOCAL, Blob, LocalStore, Put, StoredFile
from .errors import IntegrityError

ENV = "DDR_ARTIFACTS"


class Store(Protocol):
    uri: str

    def ensure(self) -> None: ...
    def put(self, source: Path) -> Put: ...
    def fetch(self, f: StoredFile, target: Path, what: str) -> None: ...
    def check(self, f: StoredFile, what: str) -> None: ...
    def listing(self) -> list[Blob]: ...
    def delete(self, blob: Blob) -> None: ...


def normalize(uri: str) -> str:
    """The canonical spelling of a store URI (one-line error for anything else)."""
    uri = uri.strip()
    if uri in (LOCAL, ""):
        return LOCAL
    if uri.startswith("s3://"):
        from .s3store import parse_s3_uri

        bucket, prefix = parse_s3_uri(uri)
        return f"s3://{bucket}/{prefix}".rstrip("/")
    raise UsageError(f"artifact store must be 'local' or s3://BUCKET[/PREFIX], got {uri!r}")


class Artifacts:
    """The registry's door to its stores: writes go to ``uri``, reads to the store each file names."""

    def __init__(self, home: Path, uri: str = LOCAL) -> None:
        self.home = Path(home)
        self.local = LocalStore(self.home)
        self._stores: dict[str, Store] = {LOCAL: self.local}
        self.writer = self.store(uri)
        self._command = threading.local()  # .verified: the files verified in the open verifying_once block

    @property
    def uri(self) -> str:
        return self.writer.uri

    # the local store's folders, for tools that look at a home directly
    @property
    def tmp(self) -> Path:
        return self.local.tmp

    def all_blobs(self) -> list[Path]:
        return self.local.all_blobs()

    def path(self, sha256: str) -> Path:
        return self.local.path(sha256)

    def store(self, uri: str) -> Store:
        uri = normalize(uri)
        if uri not in self._stores:
            from .s3store import S3Store

            self._stores[uri] = S3Store(uri)
        return self._stores[uri]

    def ensure(self) -> None:
        self.local.ensure()
        if self.writer is not self.local:
            self.writer.ensure()

    @contextlib.contextmanager
    def verifying_once(self) -> Iterator[None]:
        """One command's block: each file is verified at most once in it (nested blocks join the outer one).

        Remembered per thread and only while the block is open, as (store, sha256, size): a file
        checked in an earlier command, or by another thread, is read again.
        """
        if self._verified() is not None:
            yield
            return
        self._command.verified = set()
        try:
            yield
        finally:
            self._command.verified = None

    def _verified(self) -> set[tuple[str, str, int]] | None:
        return getattr(self._command, "verified", None)

    def _remember(self, store: str, sha256: str, size: int) -> None:
        verified = self._verified()
        if verified is not None:
            verified.add((normalize(store), sha256, size))

    def put(self, source: Path) -> tuple[str, int]:
        """Store ``source`` in the write store; returns (sha256, size)."""
        digest, size, verified = self.writer.put(Path(source))
        if verified:
            self._remember(self.uri, digest, size)
        return digest, size

    def put_folder(self, folder: Path) -> list[StoredFile]:
        """Store every regular file below ``folder`` (names relative to it, '/'-separated) in the write store."""
        folder = Path(folder)
        if not folder.is_dir():
            raise IntegrityError(f"{folder}: artifact folder does not exist")
        files = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest, size = self.put(path)
            files.append(StoredFile(path.relative_to(folder).as_posix(), digest, size, self.uri))
        if not files:
            raise IntegrityError(f"{folder}: artifact folder is empty")
        return files

    def check(self, f: StoredFile, what: str) -> None:
        """Verify ``f`` against its sha256 and size (skipped when this command verified it already)."""
        verified = self._verified()
        if verified is not None and (normalize(f.store), f.sha256, f.size) in verified:
            return
        self.store(f.store).check(f, what)
        self._remember(f.store, f.sha256, f.size)

    def materialize(self, files: Iterable[StoredFile], dest: Path, what: str) -> Path:
        """Verify and copy ``files`` into a new folder ``dest`` (written to a temp name, then renamed)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=dest.parent))
        try:
            for f in files:
                target = staging / f.name
                target.parent.mkdir(parents=True, exist_ok=True)
                self.store(f.store).fetch(f, target, what)
                self._remember(f.store, f.sha256, f.size)
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return dest

    def stores(self, uris: Iterable[str]) -> list[Store]:
        """The write store and every store in ``uris`` (those rows name), each once."""
        seen: dict[str, Store] = {self.uri: self.writer, LOCAL: self.local}
        for uri in uris:
            store = self.store(uri)
            seen.setdefault(store.uri, store)
        return list(seen.values())
