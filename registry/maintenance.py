"""verify (recompute every hash) and gc (remove what no row references)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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
    """Delete blobs no row references and temp files older than ``stale_after`` seconds.

    Blobs newer than ``stale_after`` are kept too: another process may be between writing its
    blobs and committing its row.
    """
    with reg.read() as tx:
        referenced = {f.sha256 for _, _, f in tx.all_files()}
    cutoff = time.time() - stale_after
    removed = []
    candidates = [p for p in reg.blobs.all_blobs() if p.name not in referenced]
    if reg.blobs.tmp.is_dir():
        candidates += [p for p in reg.blobs.tmp.iterdir() if p.is_file()]
    for path in candidates:
        if path.stat().st_mtime > cutoff:
            continue
        removed.append(str(path.relative_to(reg.home)))
        if not dry_run:
            path.unlink(missing_ok=True)
    return removed
