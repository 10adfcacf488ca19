"""``ddr-registry pull``: bring a Hub repository's versions into the local registry, trusting nothing.

Order of checks: the revision is pinned to one commit; ``manifest.json`` is downloaded (size-capped)
and validated completely; versions that conflict with local ones are refused before any artifact
is fetched; each needed file is fetched at that commit, its announced size checked before the
download and its sha256 and size after; configs, tensors and replay sets are checked against the
known types; then everything is imported in one transaction with its version numbers kept.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ddr.registry import Ref, Registry
from ddr.registry.limits import MAX_FILE_SIZE
from ddr.registry.transfer import ImportReport, import_versions, plan_import

from . import manifest
from .content import check_routers, check_version
from .remote import check_repo_id, download, hub_errors


@dataclass
class PullReport:
    repo_id: str
    revision: str
    commit: str
    result: ImportReport

    def lines(self) -> list[str]:
        r = self.result
        head = f"pulled {self.repo_id}@{self.revision} (commit {self.commit[:12]}): "
        head += f"imported {len(r.imported)} version(s)" + (f" ({', '.join(r.imported)})" if r.imported else "")
        head += f"; {len(r.present)} already here"
        out = [head] + [f"alias {a}" for a in r.aliases_set]
        return out + [f"alias {a}: this registry's alias was not moved (use ddr-registry alias set to switch)" for a in r.aliases_kept]


def pull(reg: Registry, repo_id: str, *, revision: str = "main", max_file_size: int | None = None) -> PullReport:
    """Import the repository's versions at ``revision`` (pinned to one commit), verified, in one transaction.

    ``max_file_size``: refuse any file the manifest declares larger (at most, and by default, the
    registry's own limit).
    """
    max_file_size = MAX_FILE_SIZE if max_file_size is None else min(max_file_size, MAX_FILE_SIZE)
    from huggingface_hub import HfApi

    check_repo_id(repo_id)
    api = HfApi()
    with hub_errors(repo_id, f"resolving {repo_id}@{revision}"):
        commit = api.repo_info(repo_id, revision=revision).sha
    source = f"hf:{repo_id}@{commit[:12]}"
    with tempfile.TemporaryDirectory(prefix="ddr-pull-") as tmp:
        cache = Path(tmp) / "cache"
        path = download(
            api, repo_id, manifest.MANIFEST, commit, cache, None, None, manifest.MAX_MANIFEST_BYTES,
            f"{repo_id}@{revision} has no {manifest.MANIFEST}: it is not a ddr registry repository",
        )
        versions = manifest.parse(path.read_bytes(), max_file_size)
        new, _ = plan_import(reg, versions, source)
        sources = {}
        for v in new:
            base, folder = manifest.prefix(v.kind, v.name, v.version), None
            for f in v.files:
                missing = f"{base}/{f.name} is listed in the manifest but missing from {repo_id}@{commit[:12]}; nothing was imported"
                local = download(api, repo_id, f"{base}/{f.name}", commit, cache, f.size, f.sha256, max_file_size, missing)
                sources[f.sha256], folder = local, local.parent
            check_version(v, folder)
        check_routers(versions, lambda kind, name, version: reg.module_version(Ref(kind, name, version)).config)
        result = import_versions(reg, versions, sources, source)
    return PullReport(repo_id, revision, commit, result)
