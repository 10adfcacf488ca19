"""One set of bounds: what a registry can hold, a manifest carries and a pull accepts (property-based)."""

from __future__ import annotations

import string
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registry_helpers import BACKBONE, artifact

from ddr.errors import UsageError
from ddr.hub import manifest
from ddr.registry import ModuleSpec, Registry
from ddr.registry.blobs import StoredFile
from ddr.registry.layout import FILES
from ddr.registry.limits import MAX_ACTOR, MAX_TEXT, MAX_VERSION
from ddr.registry.transfer import PortableVersion
from ddr.registry.tx import Origin

NAMES = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,20}\Z")
VERSIONS = st.integers(1, MAX_VERSION)
TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=60)
JSON_LEAF = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | TEXT
JSON = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=12)
HEX = st.text("0123456789abcdef", min_size=64, max_size=64)
DEEP: list = [1]
for _ in range(40):
    DEEP = [DEEP]
TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc))


@st.composite
def versions(draw) -> PortableVersion:
    kind = draw(st.sampled_from(["general", "domain", "router"]))
    name = {"general": "general", "router": "router"}.get(kind) or draw(NAMES)
    files = tuple(sorted((StoredFile(f, draw(HEX), draw(st.integers(0, 2**31 - 1))) for f in FILES[kind][: draw(st.integers(2, len(FILES[kind])))]),
                         key=lambda f: f.name))
    common = {
        "kind": kind, "name": name, "version": draw(VERSIONS), "files": files,
        "backbone": {**BACKBONE, "name": draw(st.text(string.printable, max_size=40)), "weights_sha256": draw(HEX)},
        "config": draw(st.dictionaries(TEXT, JSON, max_size=4)), "metrics": draw(st.dictionaries(TEXT, JSON, max_size=4)),
        "created_at": draw(TIMES), "created_by": draw(st.text(max_size=MAX_ACTOR).filter(lambda t: "\x00" not in t and t.encode("utf-8", "ignore") == t.encode("utf-8", "surrogatepass"))),
        "aliases": tuple(sorted(draw(st.sets(NAMES.filter(lambda a: not a.isdigit()), max_size=3)))),
    }
    if kind == "router":
        doms = draw(st.lists(NAMES, unique=True, max_size=4))
        return PortableVersion(domains=tuple((d, draw(VERSIONS)) for d in doms), general_version=draw(st.none() | VERSIONS), **common)
    return PortableVersion(
        description=draw(TEXT), parent_version=draw(st.none() | VERSIONS), data_fingerprint=draw(TEXT.filter(lambda t: len(t) <= 200)),
        instruction=draw(TEXT), train_config=draw(st.dictionaries(TEXT, JSON, max_size=4)), **common,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(versions(), max_size=4, unique_by=lambda v: v.ref))
def test_what_push_writes_pull_reads_back(vs):
    # aliases are unique per scope in a registry; keep the generated batch consistent with that
    seen, batch = set(), []
    for v in vs:
        clash = {(v.scope, a) for a in v.aliases} & seen
        if not clash:
            seen |= {(v.scope, a) for a in v.aliases}
            batch.append(v)
    assert sorted(manifest.parse(manifest.to_json(batch)), key=lambda v: v.ref) == sorted(batch, key=lambda v: v.ref)


def test_the_last_version_number_is_the_last(tmp_path):
    reg = Registry.init(tmp_path / "home")
    src = artifact(tmp_path / "a", b"a")
    files = reg.blobs.put_folder(src)
    with reg.write() as tx:  # as a pull of a repository at the very last version number would
        tx.insert_module(ModuleSpec("domain", "d", {}, BACKBONE), files, Origin(version=MAX_VERSION, created_by="x"))
    with pytest.raises(UsageError, match=f"domain/d cannot take version {MAX_VERSION + 1}"):
        reg.register_module("domain", "d", src, {}, BACKBONE, parent=MAX_VERSION)
    assert [m.version for m in reg.module_versions()] == [MAX_VERSION]


@pytest.mark.parametrize(
    "facts, message",
    [
        ({"description": "x" * (MAX_TEXT + 1)}, "description must be text of at most"),
        ({"instruction": "a\x00b"}, "without NUL"),
        ({"metrics": {"m": DEEP}}, "nested more than 32 levels"),
    ],
    ids=["long-description", "nul", "deep-metrics"],
)
def test_registration_refuses_what_a_pull_would(tmp_path, facts, message):
    reg = Registry.init(tmp_path / "home")
    with pytest.raises(UsageError, match=message):
        reg.register_module("domain", "d", artifact(tmp_path / "a", b"a"), {}, BACKBONE, **facts)
    assert reg.module_versions() == []


@pytest.mark.parametrize(
    "args, needle",
    [
        (["show", "router@9223372036854775808"], "versions run from 1 to 2147483647"),
        (["alias", "set", "domain/x@99999999999999999999", "production"], "versions run from 1 to 2147483647"),
        (["rollback", "router", "--to", "9223372036854775808"], "--to must be a version from 1 to 2147483647"),
    ],
    ids=["show", "alias-set", "rollback"],
)
def test_huge_version_numbers_are_one_line(tmp_path, args, needle):
    from click.testing import CliRunner

    from ddr.cli.app import main

    Registry.init(tmp_path / "home").close()
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "home"), *args])
    assert result.exit_code == 1 and result.output.strip().splitlines() == [f"Error: {result.output.strip()[7:]}"]
    assert needle in result.output and "Traceback" not in result.output
