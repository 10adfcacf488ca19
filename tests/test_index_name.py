"""`index build` without --name derives a valid index name from the folder's name, and says which."""

from __future__ import annotations

import json

import pytest
from beirdata import write_collection
from click.testing import CliRunner
from tinybert import sentence

from ddr.cli.app import main
from ddr.errors import UsageError
from ddr.registry.refs import NAME_RE
from ddr.service.indexing import index_name_for


@pytest.mark.parametrize(
    "folder, name",
    [
        ("scifact", "scifact"),
        ("my data", "my-data"),
        ("my  data (v2)", "my-data-v2"),
        ("  .hidden set", "hidden-set"),
        ("_x", "x"),
        ("données", "donn-es"),
        ("a" * 150, "a" * 100),
    ],
)
def test_index_name_for(tmp_path, folder, name):
    assert index_name_for(tmp_path / folder) == name
    assert NAME_RE.match(name)


def test_index_name_for_nothing_usable(tmp_path):
    with pytest.raises(UsageError, match="give one with --name"):
        index_name_for(tmp_path / "日本")


def test_cli_index_build_folder_with_spaces(tmp_path, tiny_path):
    docs = [json.dumps({"_id": f"d{i}", "title": f"t{i}", "text": sentence(i, i + 1)}) for i in range(6)]
    folder = write_collection(tmp_path / "my data", corpus_lines=docs, qrels_rows=["q1\td1\t1"])
    home = tmp_path / "home"
    run = lambda *a: CliRunner().invoke(main, ["--home", str(home), *a])
    assert run("init").exit_code == 0
    result = run("index", "build", "--data", str(folder), "--backbone", tiny_path, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "index name 'my-data' (derived from the folder name 'my data'; choose another with --name)"
    assert result.output.splitlines()[1].startswith("index my-data@1: 6 passages")
    listed = json.loads(run("index", "list", "--json").output)
    assert [(r["name"], r["version"]) for r in listed] == [("my-data", 1)]
    result = run("index", "build", "--data", str(folder), "--backbone", tiny_path, "--quiet", "--name", "mine")
    assert result.exit_code == 0 and result.output.startswith("index mine@1:"), result.output
