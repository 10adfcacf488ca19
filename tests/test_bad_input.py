"""Bad input, tried systematically through the real CLI (docs/reliability.md has the table).

Every case asserts: exit code 1, exactly one output line ``Error: ...`` naming the problem and the
file:line or the registry object, no traceback (the exception that ended the command is click's
SystemExit), and the registry home byte-identical before and after: every file under it, the
SQLite database included, is hashed. SQLite's ``-shm`` index is left out, and a ``-wal`` file is
left out only while it is empty (an empty WAL means no transaction was written).
The accepted inputs (CRLF, LF/CRLF mixed within a file) must succeed instead.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import make_backbone
from helpers import general
from test_retrieval import tiny_path  # noqa: F401  (fixture)
from test_training import make_domain

from ddr.cli import main
from ddr.modules import load_backbone
from ddr.publish import publish_module
from ddr.registry import Registry
from ddr.registry.aliases import set_alias

# ------------------------------------------------------------------ helpers


def snapshot(home: Path) -> dict[str, str]:
    """sha256 of every file under ``home`` (see the module docstring for the two SQLite exceptions)."""
    out = {}
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        if path.name.endswith("-shm") or (path.name.endswith("-wal") and path.stat().st_size == 0):
            continue
        out[path.relative_to(home).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    dirs = sorted(p.relative_to(home).as_posix() + "/" for p in home.rglob("*") if p.is_dir())
    return {**out, **dict.fromkeys(dirs, "dir")}


def invoke(home: Path, args: list[str]):
    return CliRunner().invoke(main, ["--home", str(home), *args])


def assert_one_line_error(result, *fragments: str) -> str:
    """Exit 1 through the CLI's own error path, one line naming the problem."""
    if not isinstance(result.exception, SystemExit):  # an uncaught exception: show its traceback
        import traceback

        pytest.fail("".join(traceback.format_exception(result.exception)) + result.output)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert len(lines[0]) < 600, "the message must not echo the input"
    return lines[0]


def fails_unchanged(home: Path, args: list[str], *fragments: str) -> str:
    before = snapshot(home)
    message = assert_one_line_error(invoke(home, args), *fragments)
    assert snapshot(home) == before, "the failed command changed the registry home"
    return message


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    Registry.init(h).close()
    return h


def commands(tiny: str, data: Path) -> dict[str, list[str]]:
    return {
        "evaluate": ["evaluate", "--data", str(data), "--backbone", tiny, "--baselines", "plain", "--quiet"],
        "index-build": ["index", "build", "--data", str(data), "--backbone", tiny, "--quiet"],
        "add-domain": ["add-domain", "alpha", "--data", str(data), "--backbone", tiny, "--epochs", "1", "--prefix-length", "4", "--quiet", "--force"],
    }


# The split each command reads its qrels from (index build reads the corpus only).
SPLIT = {"evaluate": "test", "add-domain": "train"}
ALL, WITH_QUERIES = ("evaluate", "index-build", "add-domain"), ("evaluate", "add-domain")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _replace_line(path: Path, number: int, text: str) -> None:
    lines = _lines(path)
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


def _append_qrels(folder: Path, row: str) -> None:
    for split in ("train", "test"):
        path = folder / "qrels" / f"{split}.tsv"
        path.write_text(path.read_text() + row + "\n")


def _append_qrels_bytes(folder: Path, row: bytes) -> None:
    for split in ("train", "test"):
        path = folder / "qrels" / f"{split}.tsv"
        path.write_bytes(path.read_bytes() + row)


def _truncated_gzip(folder: Path) -> None:
    data = gzip.compress((folder / "corpus.jsonl").read_bytes())
    (folder / "corpus.jsonl").unlink()
    (folder / "corpus.jsonl.gz").write_bytes(data[: len(data) // 2])


def _ten_mb_line(folder: Path) -> None:
    # One 10 MB line, no newline, an unterminated string: must fail fast, without echoing it.
    (folder / "corpus.jsonl").write_text('{"_id": "big", "text": "' + "w1 " * (10 * 1024 * 1024 // 3))


# (case, how to break a good collection, what the one line must say ({split}: the qrels file read), commands)
DATA_CASES = [
    ("malformed-jsonl-corpus", lambda f: _replace_line(f / "corpus.jsonl", 3, '{"_id": "x", oops'), ["corpus.jsonl:3: malformed JSON"], ALL),
    ("malformed-jsonl-queries", lambda f: _replace_line(f / "queries.jsonl", 2, "[1, 2"), ["queries.jsonl:2: malformed JSON"], WITH_QUERIES),
    ("jsonl-not-an-object", lambda f: _replace_line(f / "corpus.jsonl", 4, '"just a string"'), ["corpus.jsonl:4: expected an object with an '_id'"], ALL),
    ("qrels-wrong-columns", lambda f: _append_qrels(f, "alphaq1 alpha1 1"), ["{split}.tsv:", "expected 3 tab-separated columns"], WITH_QUERIES),
    ("empty-corpus", lambda f: (f / "corpus.jsonl").write_text(""), ["corpus.jsonl: the corpus is empty"], ALL),
    ("blank-lines-only-corpus", lambda f: (f / "corpus.jsonl").write_bytes(b"\n\r\n  \n"), ["corpus.jsonl: the corpus is empty"], ALL),
    ("duplicate-document-id", lambda f: _replace_line(f / "corpus.jsonl", 5, json.dumps({"_id": "alpha0", "text": "w1"})), ["corpus.jsonl:5: duplicate document id 'alpha0'"], ALL),
    ("duplicate-query-id", lambda f: _replace_line(f / "queries.jsonl", 3, json.dumps({"_id": "alphaq0", "text": "w1"})), ["queries.jsonl:3: duplicate query id 'alphaq0'"], WITH_QUERIES),
    ("qrels-unknown-document", lambda f: _append_qrels(f, "alphaq1\tnope\t1"), ["{split}.tsv:", "document id 'nope' is not in the corpus"], WITH_QUERIES),
    ("qrels-unknown-query", lambda f: _append_qrels(f, "ghost\talpha1\t1"), ["{split}.tsv:", "query id 'ghost' is not in the queries file"], WITH_QUERIES),
    ("qrels-grade-not-integer", lambda f: _append_qrels(f, "alphaq1\talpha1\thigh"), ["{split}.tsv:", "relevance 'high' is not an integer"], WITH_QUERIES),
    ("non-utf8-corpus", lambda f: (f / "corpus.jsonl").write_bytes((f / "corpus.jsonl").read_bytes() + b'{"_id": "z", "text": "caf\xe9"}\n'), ["corpus.jsonl:21: not UTF-8"], ALL),
    ("non-utf8-qrels", lambda f: _append_qrels_bytes(f, b"alphaq1\talph\xff\t1\n"), ["{split}.tsv:", "not UTF-8"], WITH_QUERIES),
    ("truncated-gzip-corpus", _truncated_gzip, ["corpus.jsonl.gz: cannot read"], ALL),
    ("10MB-single-line", _ten_mb_line, ["corpus.jsonl:1: malformed JSON (Unterminated string starting at column 24)"], ALL),
    ("missing-qrels-split", lambda f: [(f / "qrels" / s).unlink() for s in ("train.tsv", "test.tsv")], ["{split}.tsv: no qrels for split"], WITH_QUERIES),
    ("data-directory-does-not-exist", lambda f: shutil.rmtree(f), ["alpha: no such data directory"], ALL),
]


@pytest.mark.parametrize(
    "case, breaker, fragments, command",
    [pytest.param(c, b, fr, cmd, id=f"{c}-{cmd}") for c, b, fr, cmds in DATA_CASES for cmd in cmds],
)
def test_bad_data(tmp_path, home, tiny_path, case, breaker, fragments, command):  # noqa: F811
    folder = make_domain(tmp_path / "data", "alpha", 0)
    breaker(folder)
    args = commands(tiny_path, folder)[command]
    fails_unchanged(home, args, *(f.format(split=SPLIT.get(command, "")) for f in fragments))


def _to_crlf(folder: Path) -> None:
    for path in [folder / "corpus.jsonl", folder / "queries.jsonl", *(folder / "qrels").glob("*.tsv")]:
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))


def _mixed_endings(folder: Path) -> None:
    """Every other line CRLF, within each file (scifact's real qrels are CRLF)."""
    for path in [folder / "corpus.jsonl", folder / "queries.jsonl", *(folder / "qrels").glob("*.tsv")]:
        lines = path.read_bytes().split(b"\n")[:-1]
        path.write_bytes(b"".join(line + (b"\r\n" if i % 2 else b"\n") for i, line in enumerate(lines)))


@pytest.mark.parametrize("endings", ["crlf", "mixed"])
@pytest.mark.parametrize("command", ALL)
def test_line_endings_accepted(tmp_path, home, tiny_path, endings, command):  # noqa: F811
    folder = make_domain(tmp_path / "data", "alpha", 0)
    reference = make_domain(tmp_path / "lf", "alpha", 0)
    (_to_crlf if endings == "crlf" else _mixed_endings)(folder)
    assert b"\r\n" in (folder / "qrels" / "train.tsv").read_bytes()
    result = invoke(home, commands(tiny_path, folder)[command])
    assert result.exit_code == 0, result.output
    if command == "evaluate":  # the same scores as the LF files
        ref = invoke(tmp_path / "ref-home", ["init"]), invoke(tmp_path / "ref-home", [*commands(tiny_path, reference)[command], "--json"])
        ours = invoke(home, [*commands(tiny_path, folder)[command], "--json"])
        assert json.loads(ours.output)["collections"]["alpha"]["systems"] == json.loads(ref[1].output)["collections"]["alpha"]["systems"]
    elif command == "index-build":
        assert "20 passages" in result.output
    else:
        assert "registered domain/alpha@1 and router@1" in result.output


@pytest.mark.slow
def test_ten_mb_document_accepted(tmp_path, home, tiny_path):  # noqa: F811
    """A valid 10 MB single-line document is read and truncated to the token limit, not refused."""
    folder = make_domain(tmp_path / "data", "alpha", 0)
    big = json.dumps({"_id": "big", "title": "", "text": " ".join(["w1 w2 w3"] * 1_300_000)})
    assert len(big) > 10 * 1024 * 1024
    (folder / "corpus.jsonl").write_text(big + "\n" + (folder / "corpus.jsonl").read_text())
    result = invoke(home, commands(tiny_path, folder)["index-build"])
    assert result.exit_code == 0, result.output
    assert "21 passages" in result.output


# ------------------------------------------------------------------ registry and artifact cases


@pytest.fixture
def tiny(tiny_path):  # noqa: F811
    return load_backbone(tiny_path)


def publish_live_general(home: Path, module) -> Registry:
    reg = Registry(home)
    publish_module(reg, module)
    set_alias(reg, "general/general@1", "production")
    return reg


def register_folder(home: Path, folder: Path, module) -> None:
    """Register the folder's files as they are (its recorded sha256 then matches the bad bytes)."""
    reg = Registry(home)
    reg.register_module("general", "general", folder, module.config.to_dict(), module.config.backbone)
    set_alias(reg, "general/general@1", "production")
    reg.close()


def loading_commands(tiny: str, data: Path) -> list[list[str]]:
    c = commands(tiny, data)
    return [c["evaluate"], c["index-build"], c["add-domain"]]


@pytest.mark.parametrize("dimension, kwargs", [("num_layers", {"layers": 3}), ("head_dim", {"hidden": 48, "heads": 4})])
def test_module_for_other_backbone_shape(tmp_path, home, tiny_path, dimension, kwargs):  # noqa: F811
    other = make_backbone(tmp_path, **kwargs)
    publish_live_general(home, general(other)).close()
    data = make_domain(tmp_path / "data", "alpha", 0)
    for args in loading_commands(tiny_path, data):
        fails_unchanged(home, args, "general/general@1", dimension)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
def test_non_finite_weights(tmp_path, home, tiny, tiny_path, value):  # noqa: F811
    module = general(tiny)
    with torch.no_grad():
        module.values[1, 2, 0, 3] = value
    publish_live_general(home, module).close()  # saving does not check; loading must
    data = make_domain(tmp_path / "data", "alpha", 0)
    for args in loading_commands(tiny_path, data):
        fails_unchanged(home, args, "model.safetensors", "'values' holds NaN or Inf")


def test_truncated_safetensors(tmp_path, home, tiny, tiny_path):  # noqa: F811
    module = general(tiny)
    folder = module.save(tmp_path / "g")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    register_folder(home, folder, module)
    data = make_domain(tmp_path / "data", "alpha", 0)
    for args in loading_commands(tiny_path, data):
        fails_unchanged(home, args, "model.safetensors: unreadable safetensors file")


def _blob(home: Path, name: str = "model.safetensors") -> Path:
    reg = Registry(home)
    f = next(f for f in reg.module_version("general/general@1").files if f.name == name)
    path = reg.blobs.path(f.sha256)
    reg.close()
    return path


@pytest.mark.parametrize("damage", ["tampered", "missing"])
def test_damaged_artifact(tmp_path, home, tiny, tiny_path, damage):  # noqa: F811
    publish_live_general(home, general(tiny)).close()
    blob = _blob(home)
    if damage == "tampered":
        data = bytearray(blob.read_bytes())
        data[-5] ^= 0x01  # one flipped bit in a weight: still a loadable file, wrong bytes
        blob.write_bytes(bytes(data))
        expected = "file model.safetensors does not match its sha256"
    else:
        blob.unlink()
        expected = "file model.safetensors is missing from the artifact store"
    data_dir = make_domain(tmp_path / "data", "alpha", 0)
    for args in [*loading_commands(tiny_path, data_dir), ["alias", "set", "general/general@1", "staging"], ["rollback", "general", "--to", "1", "--alias", "staging"]]:
        fails_unchanged(home, args, "general/general@1", expected)
    before = snapshot(home)
    result = invoke(home, ["verify"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"FAIL module_version #1: {expected}" in result.output and "1 problems" in result.output
    assert snapshot(home) == before


def test_database_from_newer_schema(tmp_path, home, tiny_path):  # noqa: F811
    from sqlalchemy import text

    reg = Registry(home)
    with reg.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    reg.close()
    data = make_domain(tmp_path / "data", "alpha", 0)
    for args in [["list"], ["verify"], ["alias", "set", "router@1", "production"], *loading_commands(tiny_path, data)]:
        fails_unchanged(home, args, "database schema 9999 is newer than this ddr knows", "upgrade ddr")


def _is_writable(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


def test_unwritable_home_chmod(tmp_path, home, tiny_path):  # noqa: F811
    data = make_domain(tmp_path / "data", "alpha", 0)
    paths = [home, *(p for p in home.rglob("*") if p.is_dir())]
    for p in paths:
        p.chmod(0o500)
    try:
        if _is_writable(home):
            pytest.skip("running as root: chmod 500 does not block writes (test_unwritable_home_parts covers it)")
        for args in [commands(tiny_path, data)["index-build"], commands(tiny_path, data)["add-domain"]]:
            fails_unchanged(home, args, "cannot write", str(home))
    finally:
        for p in paths:
            p.chmod(0o700)


@pytest.mark.parametrize("blocked", ["cache", "tmp", "blobs"])
def test_unwritable_home_parts(tmp_path, home, tiny_path, blocked):  # noqa: F811
    """A part of the home that cannot be created (a file in the way), which blocks root too."""
    data = make_domain(tmp_path / "data", "alpha", 0)
    if blocked != "cache":  # get past the embedding cache, to the artifact store
        assert invoke(home, commands(tiny_path, data)["index-build"]).exit_code == 0
    shutil.rmtree(home / blocked, ignore_errors=True)
    (home / blocked).write_text("in the way")
    for args in [commands(tiny_path, data)["index-build"], commands(tiny_path, data)["add-domain"]]:
        fails_unchanged(home, args, "cannot", str(home / blocked))


def test_home_under_a_file(tmp_path, tiny_path):  # noqa: F811
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = invoke(blocker / "home", ["init"])
    assert_one_line_error(result, "cannot create", str(blocker / "home"))
    assert blocker.read_text() == "not a directory"


# ------------------------------------------------------------------ full disk during publish


class _FullDisk:
    """A file object whose writes fail with ENOSPC after ``room`` bytes (part of a chunk lands)."""

    def __init__(self, fh, room: int) -> None:
        self.fh, self.room = fh, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            self.fh.write(data[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def fill_disk_after(monkeypatch, blobs_written: int, room: int = 100) -> None:
    """The (blobs_written + 1)-th blob the store writes hits a full disk after ``room`` bytes."""
    from ddr.registry import blobs as blobs_module

    real_open = open
    count = {"writes": 0}

    def fake_open(path, mode="r", *args, **kwargs):
        fh = real_open(path, mode, *args, **kwargs)
        if "w" in mode:
            count["writes"] += 1
            if count["writes"] > blobs_written:
                return _FullDisk(fh, room)
        return fh

    monkeypatch.setattr(blobs_module, "open", fake_open, raising=False)


@pytest.mark.parametrize("command, blobs_before_full", [("add-domain", 2), ("add-domain", 0), ("index-build", 1)])
def test_full_disk_during_publish(tmp_path, home, tiny_path, monkeypatch, command, blobs_before_full):  # noqa: F811
    data = make_domain(tmp_path / "data", "alpha", 0)
    args = commands(tiny_path, data)[command]
    fill_disk_after(monkeypatch, blobs_before_full)
    assert_one_line_error(invoke(home, args), f"registry home {home} is full; nothing was registered")
    monkeypatch.undo()

    listed = invoke(home, ["list", "--json"])
    assert listed.exit_code == 0
    state = json.loads(listed.output)
    assert state["modules"] == [] and state["routers"] == [] and state["aliases"] == []
    assert invoke(home, ["index", "list", "--json"]).output.strip() == "[]"
    assert invoke(home, ["verify"]).exit_code == 0
    assert list((home / "tmp").iterdir()) == [], "a partial blob was left in tmp"
    result = invoke(home, args)
    assert result.exit_code == 0, result.output
    assert invoke(home, ["verify"]).exit_code == 0


# ------------------------------------------------------------------ the real process, not CliRunner


def test_real_process_prints_one_line_on_stderr(tmp_path, home):
    """The installed entry point: stderr is exactly one line, stdout is empty, exit code 1."""
    import subprocess
    import sys

    before = snapshot(home)
    cmd = [sys.executable, "-c", "from ddr.cli import main; main()", "--home", str(home)]
    proc = subprocess.run([*cmd, "evaluate", "--data", str(tmp_path / "nope")], capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"Error: {tmp_path / 'nope'}: no such data directory"]
    assert snapshot(home) == before
