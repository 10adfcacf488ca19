"""verify (recompute every hash) and gc (remove what no row references)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .blobs import LOCAL
from .errors import IntegrityError
from .store import Registry

STALE_TMP_SECONDS = 3600


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(reg: Registry) -> VerifyReport:
    """Recompute the sha256 of every file every row references."""
    report = VerifyReport()
    with reg.read() as tx:
        files = tx.all_files()
    for owner_type, owner_id, f in files:
        report.checked += 1
        try:
            reg.blobs.check(f, f"{owner_type} #{owner_id}")
        except IntegrityError as exc:
            report.problems.append(str(exc))
    return report


def gc(reg: Registry, dry_run: bool = False, stale_after: float = STALE_TMP_SECONDS) -> list[str]:
    """Delete, in every store rows name and in the write store, blobs no row references, temp files
    and unfinished uploads older than ``stale_after`` seconds.

    Blobs newer than ``stale_after`` are kept too: another process may be between writing its
    blobs and committing its row.
    """
    with reg.read() as tx:
        files = tx.all_files()
    referenced: dict[str, set[str]] = {}
    for _, _, f in files:
        referenced.setdefault(reg.blobs.store(f.store).uri, set()).add(f.sha256)
    cutoff = time.time() - stale_after
    removed = []
    for store in reg.blobs.stores(referenced):
        keep = referenced.get(store.uri, set())
        for blob in store.listing():
            if blob.sha256 in keep or blob.mtime > cutoff:
                continue
            removed.append(blob.key if store.uri == LOCAL else f"{store.uri}: {blob.key}")
            if not dry_run:
                store.delete(blob)
    return removed
