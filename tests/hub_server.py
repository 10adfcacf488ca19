"""A small in-memory Hugging Face Hub for tests (stdlib only), speaking what huggingface_hub's client sends.

Endpoints: create repo, model info (at a branch, tag or commit), refs, create branch/tag, tree
listing, preupload, the commit API (NDJSON; ``parentCommit`` enforced with 412), the LFS batch API
with its upload and verify URLs, README metadata validation, and file HEAD/GET under
``/{repo}/resolve/{rev}/{path}`` with the headers the client reads (X-Repo-Commit, ETag,
X-Linked-Etag / X-Linked-Size for LFS files, Content-Length).

What the server holds (repositories, which files go through LFS, the test hooks) is a
:class:`hub_state.HubState`; tests take both from here: ``from hub_server import HubState, serve``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from hub_state import Aborted, Blob, HubError, HubState, Repo, git_oid


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: HubState  # set on the subclass made by serve()

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    # ---------------------------------------------------------------- plumbing
    def _body(self) -> bytes:
        """The whole request body; :class:`Aborted` if the client went away before sending all of it."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                try:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                except ValueError:
                    raise Aborted from None
                if size == 0:
                    self.rfile.readline()
                    return out
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    raise Aborted
                out += chunk
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if len(body) < length:  # a real server never acts on a truncated request (the crash trials kill clients mid-send)
            raise Aborted
        return body

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, head: bool = False) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _dispatch(self, method: str) -> None:
        st = self.state
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with st.lock:
            st.log.append((method, url.path))
            if self.headers.get("Authorization"):
                st.authorizations.add(self.headers["Authorization"])
        try:
            body = self._body() if method in ("POST", "PUT") else b""
        except Aborted:
            with st.lock:
                st.aborted.append((method, url.path))
            self.close_connection = True
            return
        try:
            with st.lock:
                self._route(method, parts, query, body)
        except HubError as exc:
            headers = {"X-Error-Message": exc.message}
            if exc.code:
                headers["X-Error-Code"] = exc.code
            if exc.commit:
                headers["X-Repo-Commit"] = exc.commit
            self._send(exc.status, json.dumps({"error": exc.message}).encode(), {"Content-Type": "application/json", **headers}, head=method == "HEAD")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    @property
    def base(self) -> str:
        return f"http://{self.headers.get('Host')}"

    # ---------------------------------------------------------------- routes
    def _route(self, method: str, p: list[str], q: dict[str, str], body: bytes) -> None:
        st = self.state
        if method == "POST" and p[:3] == ["api", "repos", "create"]:
            payload = json.loads(body)
            repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
            st.create_repo(repo_id, payload.get("visibility") == "private" or bool(payload.get("private")))
            return self._json(200, {"url": f"{self.base}/{repo_id}", "name": repo_id, "id": repo_id})
        if method == "POST" and p[:2] == ["api", "validate-yaml"]:
            return self._json(200, {"errors": [], "warnings": []})
        if method == "PUT" and p[0] == "_lfs_upload":
            if hashlib.sha256(body).hexdigest() != p[1]:
                raise HubError(400, "uploaded bytes do not match the oid")
            st.lfs_objects[p[1]] = body
            return self._send(200)
        if method == "POST" and p[0] == "_lfs_verify":
            payload = json.loads(body)
            if payload["oid"] not in st.lfs_objects:
                raise HubError(404, "object not uploaded")
            return self._json(200, {"ok": True})
        if method == "POST" and len(p) >= 5 and p[1].endswith(".git") and p[2:] == ["info", "lfs", "objects", "batch"]:
            return self._lfs_batch(json.loads(body))
        if p[:2] == ["api", "models"] and len(p) >= 4:
            return self._api(method, f"{p[2]}/{p[3]}", p[4:], q, body)
        if len(p) >= 5 and p[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(method, f"{p[0]}/{p[1]}", p[3], "/".join(p[4:]))
        raise HubError(404, f"no route for {method} /{'/'.join(p)}")

    def _api(self, method: str, repo_id: str, rest: list[str], q: dict[str, str], body: bytes) -> None:
        st = self.state
        repo = st.repo(repo_id)
        if method == "GET" and (not rest or rest[0] == "revision"):
            rev = rest[1] if rest else "main"
            sha = self._rev(repo, rev)
            siblings = [{"rfilename": path} for path in sorted(repo.commits[sha])]
            return self._json(200, {"id": repo_id, "modelId": repo_id, "sha": sha, "private": repo.private, "siblings": siblings})
        if method == "GET" and rest == ["refs"]:
            def refs(d, kind):
                return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": c} for n, c in sorted(d.items())]
            return self._json(200, {"branches": refs(repo.branches, "heads"), "tags": refs(repo.tags, "tags"), "converts": [], "pullRequests": []})
        if method == "GET" and rest and rest[0] == "tree":
            return self._tree(repo, self._rev(repo, rest[1]), "/".join(rest[2:]), q.get("recursive", "").lower() in ("true", "1"))
        if method == "POST" and rest and rest[0] == "preupload":
            files = repo.commits[self._rev(repo, rest[1])]
            out = []
            for f in json.loads(body)["files"]:
                existing = files.get(f["path"])
                lfs = st.is_lfs(f["path"], f["size"])
                oid = (existing.sha256 if existing.lfs else existing.oid) if existing else None
                out.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
            return self._json(200, {"files": out, "commitOid": self._rev(repo, rest[1])})
        if method == "POST" and rest and rest[0] == "commit":
            return self._commit(repo_id, repo, rest[1], body)
        if method == "POST" and rest and rest[0] == "tag":
            payload = json.loads(body)
            if payload["tag"] in repo.tags:
                raise HubError(409, f"tag {payload['tag']} already exists")
            repo.tags[payload["tag"]] = self._rev(repo, rest[1])
            return self._json(200, {})
        if method == "POST" and rest and rest[0] == "branch":
            if rest[1] in repo.branches:
                raise HubError(409, "branch already exists")
            start = json.loads(body or b"{}").get("startingPoint") or "main"
            repo.branches[rest[1]] = self._rev(repo, start)
            return self._json(200, {})
        raise HubError(404, f"no API route {method} {rest}")

    def _rev(self, repo: Repo, rev: str) -> str:
        sha = repo.resolve(rev)
        if sha is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return sha

    def _tree(self, repo: Repo, sha: str, under: str, recursive: bool) -> None:
        entries, folders = [], set()
        prefix = f"{under}/" if under else ""
        for path, blob in sorted(repo.commits[sha].items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            if "/" in rest and not recursive:
                folders.add(prefix + rest.split("/")[0])
                continue
            if recursive:
                bits = rest.split("/")[:-1]
                folders.update(prefix + "/".join(bits[: i + 1]) for i in range(len(bits)))
            entry = {"type": "file", "path": path, "size": len(blob.data), "oid": blob.oid}
            if blob.lfs:
                entry["lfs"] = {"oid": blob.sha256, "size": len(blob.data), "pointerSize": len(blob.pointer)}
            entries.append(entry)
        entries += [{"type": "directory", "path": f, "oid": git_oid(f.encode()), "size": 0} for f in sorted(folders)]
        self._json(200, entries)

    def _lfs_batch(self, payload: dict) -> None:
        objects = []
        for obj in payload["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.state.lfs_objects:
                entry["actions"] = {
                    "upload": {"href": f"{self.base}/_lfs_upload/{obj['oid']}"},
                    "verify": {"href": f"{self.base}/_lfs_verify"},
                }
            objects.append(entry)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(), {"Content-Type": "application/vnd.git-lfs+json"})

    def _commit(self, repo_id: str, repo: Repo, branch: str, body: bytes) -> None:
        st = self.state
        if st.before_commit is not None:
            hook, st.before_commit = st.before_commit, None
            hook(repo_id, branch)
        if branch not in repo.branches:
            raise HubError(404, f"branch {branch} not found", "RevisionNotFound")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = lines[0]["value"]
        parent = header.get("parentCommit")
        head = repo.branches[branch]
        if parent is not None and not head.startswith(parent):
            raise HubError(412, f"A commit has happened since. Please refresh and try again. (parent {parent[:12]}, head {head[:12]})")
        files = dict(repo.commits[head])
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                data = base64.b64decode(value["content"])
                files[value["path"]] = Blob(data, False)
            elif key == "lfsFile":
                if value["oid"] not in st.lfs_objects:
                    raise HubError(422, f"LFS object {value['oid']} was never uploaded")
                files[value["path"]] = Blob(st.lfs_objects[value["oid"]], True)
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                files = {p: b for p, b in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
            else:
                raise HubError(400, f"unknown commit operation {key}")
        sha = st.new_commit(repo_id, branch, files, header.get("summary", ""))
        self._json(200, {"success": True, "commitOid": sha, "commitUrl": f"{self.base}/{repo_id}/commit/{sha}", "pullRequestUrl": None})

    def _resolve(self, method: str, repo_id: str, rev: str, path: str) -> None:
        repo = self.state.repo(repo_id)
        sha = self._rev(repo, rev)
        blob = repo.commits[sha].get(path)
        if blob is None:
            raise HubError(404, "Entry not found", "EntryNotFound", commit=sha)
        headers = {"X-Repo-Commit": sha, "ETag": f'"{blob.oid}"', "Content-Type": "application/octet-stream"}
        if blob.lfs:
            headers.update({"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(len(blob.data))})
        self._send(200, blob.data, headers, head=method == "HEAD")


@dataclass
class HubServer:
    state: HubState
    httpd: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # a client killed mid-response (crash trials): not a server bug
            return
        super().handle_error(request, client_address)


def serve(state: HubState | None = None) -> HubServer:
    """Start a server on 127.0.0.1 (a free port) in a daemon thread."""
    state = state or HubState()
    handler = type("BoundHandler", (Handler,), {"state": state})
    httpd = _Server(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return HubServer(state, httpd, thread)
