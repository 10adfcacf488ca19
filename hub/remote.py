"""The few Hub calls push and pull make, with every client error turned into one line.

Authentication is left to huggingface_hub (``HF_TOKEN`` or the stored login): no token is passed,
stored, logged or put in a message (messages are also scrubbed of the resolved token, in case a
server echoes it).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from ddr.errors import DdrError
from ddr.registry.blobs import sha256_file
from ddr.registry.errors import ConflictError, IntegrityError, NotFoundError

from .errors import HubError

REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def check_repo_id(repo_id: str) -> str:
    if not REPO_RE.match(repo_id or "") or ".." in repo_id:
        raise HubError(f"invalid Hub repository {repo_id!r}: use ORG/NAME (letters, digits, '.', '_', '-')")
    return repo_id


def _scrub(text: str) -> str:
    from huggingface_hub import get_token

    token = get_token()
    text = " ".join(str(text).split())[:300]
    return text.replace(token, "***") if token else text


@contextlib.contextmanager
def hub_errors(repo_id: str, doing: str) -> Iterator[None]:
    """Translate huggingface_hub / network errors raised while ``doing`` into one-line ddr errors."""
    import httpx2
    from huggingface_hub import errors as hf

    try:
        yield
    except DdrError:
        raise  # already one line (and some are OSErrors, which the last clause would rewrap)
    except hf.RevisionNotFoundError:
        raise NotFoundError(f"{doing}: revision not found in {repo_id}") from None
    except hf.RemoteEntryNotFoundError:
        raise NotFoundError(f"{doing}: file not found in {repo_id}") from None
    except hf.RepositoryNotFoundError:
        raise NotFoundError(f"{doing}: {repo_id} does not exist on the Hub or this login cannot see it (HF_TOKEN / hf auth login)") from None
    except hf.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            raise HubError(f"{doing}: not authorised for {repo_id} (HTTP {status}); set HF_TOKEN or run hf auth login with a write token") from None
        detail = _scrub(getattr(exc, "server_message", None) or str(exc).splitlines()[0])
        raise HubError(f"{doing}: the Hub answered HTTP {status}: {detail}") from None
    except (httpx2.HTTPError, OSError) as exc:
        raise HubError(f"{doing}: cannot reach the Hub ({type(exc).__name__}: {_scrub(str(exc))})") from None


def is_commit_conflict(exc: BaseException) -> bool:
    from huggingface_hub.errors import HfHubHTTPError

    return isinstance(exc, HfHubHTTPError) and exc.response is not None and exc.response.status_code in (409, 412)


def concurrent_push(repo_id: str, branch: str) -> ConflictError:
    return ConflictError(f"someone pushed to {repo_id}@{branch} in between; nothing was committed: pull, then push again")


def git_blob_sha1(path: Path) -> str:
    """The git object id of a regular (non-LFS) file, as the Hub reports it."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def download(
    api, repo_id: str, path: str, commit: str, cache: Path, size: int | None, sha256: str | None, limit: int, missing: str
) -> Path:
    """Download one file at an exact commit and check it: the announced size first, then size and sha256 of the bytes.

    ``size``/``sha256`` None (the manifest itself) means: only the ``limit`` applies. ``missing`` is
    the message when the file is not in the repository.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    doing = f"downloading {path}"
    with hub_errors(repo_id, doing):
        try:
            meta = get_hf_file_metadata(hf_hub_url(repo_id, path, revision=commit, endpoint=api.endpoint))
        except Exception as exc:
            from huggingface_hub.errors import RemoteEntryNotFoundError

            if isinstance(exc, RemoteEntryNotFoundError):
                raise IntegrityError(missing) from None
            raise
        if meta.size is None or meta.size > limit or (size is not None and meta.size != size):
            expected = size if size is not None else f"at most {limit}"
            raise IntegrityError(f"{path} in {repo_id}@{commit[:12]} is {meta.size} bytes, expected {expected}; nothing was imported")
        local = Path(hf_hub_download(repo_id, path, revision=commit, cache_dir=str(cache), endpoint=api.endpoint))
    digest, actual = sha256_file(local)
    if (size is not None and actual != size) or actual > limit or (sha256 is not None and digest != sha256):
        raise IntegrityError(f"{path} in {repo_id}@{commit[:12]} does not match the sha256 and size in its manifest; nothing was imported")
    return local
