"""``ddr-registry push``: versions, ``manifest.json`` and a model card in one Hub commit.

The push reads the branch head first and commits with it as ``parent_commit``, so a push that raced
another one fails (HTTP 412/409) instead of overwriting it. It merges with what the repository's
manifest already lists (never dropping a version or a file), refuses a version that exists there
with other content, uploads only files whose remote copy differs, and commits nothing when nothing
differs.

Private by default: a new repository is created private unless ``public``; versions go without
their replay sets and gate data (the only files holding training queries) unless
``with_gate_data``, and without who made them (``created_by``, user@host) unless ``with_authors``.
No local path is ever in a manifest (data paths are not pushed; backbone names are portable).
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from ddr.registry import Registry, layout
from ddr.registry.blobs import sha256_file
from ddr.registry.errors import ConflictError, NotFoundError
from ddr.registry.refs import Ref
from ddr.registry.transfer import PortableVersion, portable

from . import manifest
from .card import model_card
from .content import check_version
from .remote import (
    check_repo_id,
    concurrent_push,
    download,
    git_blob_sha1,
    hub_errors,
    is_commit_conflict,
)


@dataclass
class PushReport:
    repo_id: str
    branch: str
    head: str
    versions: list[str]
    commit: str | None = None  # None: nothing differed, no commit was made
    files: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    created: str | None = None  # "private" / "public" when this push created the repository
    interrupted: bool = False  # Ctrl-C came while committing; the push completed anyway

    def lines(self) -> list[str]:
        refs = ", ".join(self.versions)
        first = [f"created {self.created} repository {self.repo_id}"] if self.created else []
        last = ["interrupted while committing: the push was completed first (nothing is half-done)"] if self.interrupted else []
        return first + self._result(refs) + [f"tagged {t}" for t in self.tags] + last

    def _result(self, refs: str) -> list[str]:
        if self.commit is None:
            out = [f"{self.repo_id}@{self.branch} already holds {refs} (commit {self.head[:12]}); nothing to push"]
        else:
            out = [f"pushed {refs} to {self.repo_id}@{self.branch}: commit {self.commit[:12]} ({len(self.files)} files)"]
        return out


def select(
    reg: Registry, router: str = "router@production", everything: bool = False, *, with_gate_data: bool = True, with_authors: bool = True
) -> list[PortableVersion]:
    """``router`` and everything it references (members, general, their parents), or every version,
    as they will be published (see the module docstring for the two flags)."""
    if everything:
        entities = [*reg.module_versions(), *reg.router_versions()]
        if not entities:
            raise NotFoundError("the registry is empty: nothing to push")
    else:
        try:
            r = reg.router_version(router)
        except NotFoundError as exc:
            raise NotFoundError(f"{exc}; name one with --router router@N or push --all") from None
        needed = [Ref("domain", n, v) for n, v in r.domains] + ([Ref("general", "general", r.general_version)] if r.general_version else [])
        entities, seen = [r], set()
        while needed:
            ref = needed.pop()
            if str(ref) in seen:
                continue
            seen.add(str(ref))
            mv = reg.module_version(ref)
            entities.append(mv)
            if mv.parent_version:
                needed.append(Ref(mv.kind, mv.name, mv.parent_version))
    return [_publishable(portable(reg, e), with_gate_data, with_authors) for e in entities]


def _publishable(v: PortableVersion, with_gate_data: bool, with_authors: bool) -> PortableVersion:
    files = v.files if with_gate_data else tuple(f for f in v.files if f.name in layout.CORE_FILES)
    return replace(v, files=files, created_by=v.created_by if with_authors else "")


def merge(remote: list[PortableVersion], local: list[PortableVersion], repo_id: str) -> list[PortableVersion]:
    """The remote versions plus the local ones; local aliases move, other remote aliases stay."""
    by_ref = {v.ref: v for v in remote}
    for v in local:
        theirs = by_ref.get(v.ref)
        if theirs is not None and theirs.identity() != v.identity():
            raise ConflictError(f"{v.ref} exists on {repo_id} with different content; refusing to push (versions are immutable)")
    moved = {(v.scope, a) for v in local for a in v.aliases}
    merged = {v.ref: replace(v, aliases=tuple(sorted(a for a in v.aliases if (v.scope, a) not in moved))) for v in remote}
    for v in local:
        base = merged.get(v.ref, v)
        merged[v.ref] = replace(base, aliases=tuple(sorted(set(base.aliases) | set(v.aliases))), files=_union(base, v, repo_id))
    return sorted(merged.values(), key=lambda v: v.ref)


def _union(remote: PortableVersion, local: PortableVersion, repo_id: str) -> tuple:
    """The files of one version on both sides (a push with gate data adds them; one without keeps them)."""
    files = {f.name: f for f in remote.files}
    for f in local.files:
        if files.setdefault(f.name, f) != f:
            raise ConflictError(f"{local.ref}: {f.name} on {repo_id} differs from this registry's; refusing to push")
    return tuple(sorted(files.values(), key=lambda f: f.name))


def push(
    reg: Registry, repo_id: str, *, router: str = "router@production", everything: bool = False, public: bool = False, branch: str = "main",
    with_gate_data: bool = False, with_authors: bool = False,
) -> PushReport:
    """One commit with the versions' files, ``manifest.json`` and a model card; tags ``router-vN``."""
    from huggingface_hub import CommitOperationAdd, HfApi

    check_repo_id(repo_id)
    local = select(reg, router, everything, with_gate_data=with_gate_data, with_authors=with_authors)
    api = HfApi()
    with tempfile.TemporaryDirectory(prefix="ddr-push-") as tmp:
        folders = {}
        for v in local:  # exported copies are verified against their sha256; check them as a pull will
            folders[v.ref] = reg.export(v.ref, Path(tmp) / "export" / manifest.prefix(v.kind, v.name, v.version))
            check_version(v, folders[v.ref])
        head, created = _head(api, repo_id, branch, public)
        order = {"router": 0, "general": 1, "domain": 2}
        report = PushReport(repo_id, branch, head, [v.ref for v in sorted(local, key=lambda v: (order[v.kind], v.name, v.version))])
        report.created = created
        with hub_errors(repo_id, f"reading {repo_id}@{branch}"):
            tree = {f.path: f for f in api.list_repo_tree(repo_id, revision=head, recursive=True) if hasattr(f, "blob_id")}
        remote = _manifest_at(api, repo_id, head, Path(tmp) / "cache") if manifest.MANIFEST in tree else []
        merged = merge(remote, local, repo_id)
        tags = _tags_to_create(api, repo_id, local, Path(tmp) / "cache")

        ops = []
        for v in local:
            for f in v.files:
                path, src = f"{manifest.prefix(v.kind, v.name, v.version)}/{f.name}", folders[v.ref] / f.name
                if not _same(tree.get(path), src):
                    ops.append(CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(src)))
        if merged != sorted(remote, key=lambda v: v.ref) or manifest.MANIFEST not in tree:
            ops.append(CommitOperationAdd(path_in_repo=manifest.MANIFEST, path_or_fileobj=manifest.to_json(merged)))
        card = Path(tmp) / "README.md"
        card.write_text(model_card(repo_id, merged))
        if not _same(tree.get("README.md"), card):
            ops.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card)))
        with _finish_even_if_interrupted() as interrupted:  # commit and tags: all of it, or nothing reported as done
            if ops:
                report.commit = _commit(api, repo_id, branch, head, ops, report.versions)
                report.files = [op.path_in_repo for op in ops]
            with hub_errors(repo_id, "tagging router versions"):
                for tag in tags:
                    api.create_tag(repo_id, tag=tag, revision=report.commit or head, exist_ok=True)
                    report.tags.append(tag)
        report.interrupted = bool(interrupted)
    return report


@contextlib.contextmanager
def _finish_even_if_interrupted() -> Iterator[list]:
    """Hold Ctrl-C (SIGINT) back while the commit and the tags are made: once the commit request is
    sent, the Hub may apply it whatever the client does, so the push finishes and says what it did
    instead of reporting a failure after the fact. The yielded list is non-empty if SIGINT came."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    caught: list = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, previous)


def _head(api, repo_id: str, branch: str, public: bool) -> tuple[str, str | None]:
    """The branch head's commit sha, creating the repository (private unless ``public``) and branch first if missing."""
    from huggingface_hub import errors as hf

    created = None
    with hub_errors(repo_id, f"reading {repo_id}@{branch}"):
        try:
            return api.repo_info(repo_id, revision=branch).sha, None
        except hf.RevisionNotFoundError:
            pass
        except hf.RepositoryNotFoundError:
            api.create_repo(repo_id, private=not public, exist_ok=True)
            created = "public" if public else "private"
        if branch != "main":
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        return api.repo_info(repo_id, revision=branch).sha, created


def _manifest_at(api, repo_id: str, commit: str, cache: Path, missing: str | None = None) -> list[PortableVersion]:
    missing = missing or f"{manifest.MANIFEST} disappeared from {repo_id} while this push read it; push again"
    path = download(api, repo_id, manifest.MANIFEST, commit, cache, None, None, manifest.MAX_MANIFEST_BYTES, missing)
    return manifest.parse(path.read_bytes())


def _same(remote_file, local: Path) -> bool:
    """Whether the repository's file has exactly these bytes (LFS: sha256; regular: git blob id)."""
    if remote_file is None:
        return False
    if remote_file.lfs is not None:
        return remote_file.lfs.sha256 == sha256_file(local)[0]
    return remote_file.blob_id == git_blob_sha1(local)


def _tags_to_create(api, repo_id: str, local: list[PortableVersion], cache: Path) -> list[str]:
    """``router-vN`` for each pushed router; an existing tag must point at the same content."""
    with hub_errors(repo_id, "listing tags"):
        existing = {t.name: t.target_commit for t in api.list_repo_refs(repo_id).tags}
    todo, manifests = [], {}
    for v in (v for v in local if v.kind == "router"):
        tag = f"router-v{v.version}"
        if tag not in existing:
            todo.append(tag)
            continue
        commit = existing[tag]
        if commit not in manifests:
            missing = f"tag {tag} on {repo_id} points at commit {commit[:12]}, which holds no {manifest.MANIFEST}; refusing to push (move or delete that tag)"
            manifests[commit] = {x.ref: x for x in _manifest_at(api, repo_id, commit, cache, missing)}
        tagged = manifests[commit].get(v.ref)
        if tagged is None or tagged.identity() != v.identity():
            raise ConflictError(f"tag {tag} on {repo_id} points at other content than {v.ref} here; refusing to push")
    return todo


def _commit(api, repo_id: str, branch: str, head: str, ops: list, refs: list[str]) -> str:
    message = "ddr push: " + ", ".join(refs)
    message = message if len(message) <= 200 else message[:197] + "..."
    with hub_errors(repo_id, f"committing to {repo_id}@{branch}"):
        try:
            return api.create_commit(repo_id, operations=ops, commit_message=message, revision=branch, parent_commit=head).oid
        except Exception as exc:
            if is_commit_conflict(exc):
                raise concurrent_push(repo_id, branch) from None
            raise
