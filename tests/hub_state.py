"""The in-memory Hub's data (stdlib only): repositories, commits, blobs, LFS objects and the test hooks.

:mod:`hub_server` serves a :class:`HubState` over HTTP. Files at least ``lfs_threshold`` bytes long, or
matching one of ``lfs_patterns``, go through LFS; the others travel base64 inside the commit. Test hooks:
:meth:`HubState.commit_files` (another client's commit), :meth:`HubState.tamper` (change bytes in place in
the latest commit, as a broken or hostile server would), and ``before_commit`` (called once before the
next commit is applied, e.g. to make a concurrent push land in between).
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Blob:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()

    @property
    def oid(self) -> str:
        return git_oid(self.pointer if self.lfs else self.data)


@dataclass
class Repo:
    private: bool = False
    commits: dict[str, dict[str, Blob]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> str | None:
        if rev in self.branches:
            return self.branches[rev]
        if rev in self.tags:
            return self.tags[rev]
        matches = [c for c in self.commits if c.startswith(rev)] if len(rev) >= 7 else []
        return matches[0] if len(matches) == 1 else None


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, commit: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.commit = status, message, code, commit


class Aborted(Exception):
    """The client closed the connection before its request body was complete."""


class HubState:
    """Repositories, LFS objects and test hooks; shared by all handler threads under one lock."""

    def __init__(self, lfs_threshold: int | None = None, lfs_patterns: tuple[str, ...] = ()) -> None:
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.lfs_threshold, self.lfs_patterns = lfs_threshold, lfs_patterns
        self.before_commit: Callable[[str, str], None] | None = None
        self.log: list[tuple[str, str]] = []  # (method, path)
        self.authorizations: set[str] = set()
        self.aborted: list[tuple[str, str]] = []  # (method, path) of requests dropped: the client went away mid-body
        self.lock = threading.RLock()

    def is_lfs(self, path: str, size: int) -> bool:
        by_size = self.lfs_threshold is not None and size >= self.lfs_threshold
        return by_size or any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) for p in self.lfs_patterns)

    def repo(self, repo_id: str) -> Repo:
        if repo_id not in self.repos:
            raise HubError(404, "Repository not found", "RepoNotFound")
        return self.repos[repo_id]

    def new_commit(self, repo_id: str, branch: str, files: dict[str, Blob], message: str) -> str:
        with self.lock:
            seed = f"{repo_id}\0{branch}\0{message}\0{uuid.uuid4()}\0" + "\0".join(f"{p}:{b.oid}" for p, b in sorted(files.items()))
            sha = hashlib.sha1(seed.encode()).hexdigest()
            repo = self.repos[repo_id]
            repo.commits[sha] = dict(files)
            repo.branches[branch] = sha
            return sha

    def create_repo(self, repo_id: str, private: bool = False) -> None:
        with self.lock:
            if repo_id in self.repos:
                raise HubError(409, "You already created this model repo")
            self.repos[repo_id] = Repo(private=private)
            self.new_commit(repo_id, "main", {".gitattributes": Blob(b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n", False)}, "initial commit")

    # ---------------------------------------------------------------- test hooks
    def files(self, repo_id: str, rev: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return {p: b.data for p, b in repo.commits[repo.resolve(rev)].items()}

    def head(self, repo_id: str, branch: str = "main") -> str:
        return self.repos[repo_id].branches[branch]

    def commit_files(self, repo_id: str, changes: dict[str, bytes | None], branch: str = "main", message: str = "other client") -> str:
        """Another client's commit: ``None`` deletes a path."""
        with self.lock:
            files = dict(self.repos[repo_id].commits[self.head(repo_id, branch)])
            for path, data in changes.items():
                if data is None:
                    files.pop(path, None)
                else:
                    files[path] = Blob(data, self.is_lfs(path, len(data)))
            return self.new_commit(repo_id, branch, files, message)

    def tamper(self, repo_id: str, path: str, data: bytes | None, branch: str = "main") -> None:
        """Replace (or with None delete) a file inside the latest commit itself: same sha, other bytes."""
        with self.lock:
            files = self.repos[repo_id].commits[self.head(repo_id, branch)]
            if data is None:
                del files[path]
            else:
                files[path] = Blob(data, files[path].lfs if path in files else False)

    def clone(self) -> HubState:
        """A new state holding copies of this one's repositories and LFS objects (hooks not copied)."""
        other = HubState(self.lfs_threshold, self.lfs_patterns)
        with self.lock:
            other.repos, other.lfs_objects = copy.deepcopy((self.repos, self.lfs_objects))
        return other

    def commits_made(self, repo_id: str) -> int:
        return len(self.repos[repo_id].commits)
