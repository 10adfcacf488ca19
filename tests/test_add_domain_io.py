"""add-domain checks its data before it loads or fetches anything, and verifies each registry file once.

Order: the new data folder is read and checked (corpus, queries, qrels, at least one judged training
query, a held-out set) before the backbone loads or an earlier domain's files are fetched, so a bad
folder is the error the user sees, whatever else is wrong. Verification: one add-domain reads every
file it needs once (the live modules' weights, the earlier domains' gate data), writes the new ones
hashing them as it goes, and its activation reads none of them again; ``alias set`` and ``rollback``,
separate commands, still verify every file of their target.
"""

from __future__ import annotations

from collections import Counter

import helpers
import pytest
from badinput import fails_unchanged
from beirdata import make_domain

from ddr.errors import DataError, UsageError
from ddr.registry import Registry
from ddr.registry.aliases import rollback, set_alias
from ddr.registry.blobs import LocalStore
from ddr.registry.s3store import S3Store
from ddr.service import domain as service
from ddr.service import live
from ddr.service.publish import publish_module
from ddr.trainer.config import DomainTrainConfig

FAST = DomainTrainConfig(prefix_length=4, epochs=2, batch_size=8, lr=5e-2)


def _add(reg, name, folder, tiny_path, **kw):
    return service.add_domain(reg, name, data=str(folder), config=FAST, backbone=tiny_path, progress=False, force=True, **kw)


def _one_judged_train_query(folder):
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nalphaq0\talpha0\t1\n")


# ---------------------------------------------------------------- data first


@pytest.mark.parametrize(
    "breaker, fragment",
    [
        (lambda f: (f / "corpus.jsonl").write_text('{"_id": "x", oops\n'), "corpus.jsonl:1: malformed JSON"),
        (lambda f: (f / "qrels" / "train.tsv").unlink(), "train.tsv: no qrels for split 'train'"),
        (_one_judged_train_query, "no training queries with judgements in qrels/train.tsv"),
    ],
    ids=["malformed-corpus", "no-train-split", "no-training-query"],
)
def test_cli_reports_bad_data_not_the_unloadable_backbone(tmp_path, home, breaker, fragment):
    """The backbone path is broken too: the old order failed loading it before it looked at the data."""
    folder = make_domain(tmp_path / "data", "alpha", 0)
    breaker(folder)
    args = ["add-domain", "alpha", "--data", str(folder), "--backbone", str(tmp_path / "no-such-backbone"), "--prefix-length", "4", "--quiet"]
    fails_unchanged(home, args, fragment)


def test_data_is_checked_before_loading_or_fetching(reg, tmp_path, tiny_path, monkeypatch):
    _add(reg, "alpha", make_domain(tmp_path, "alpha", 0), tiny_path)  # an earlier domain: files a late check would fetch first

    def never(*args, **kwargs):
        raise AssertionError("loaded the backbone or fetched a file before the data was checked")

    monkeypatch.setattr(live, "load_encoder", never)
    monkeypatch.setattr(reg.blobs, "materialize", never)
    bad = make_domain(tmp_path / "bad", "beta", 60)
    (bad / "queries.jsonl").write_text("[1, 2\n")
    with pytest.raises(DataError, match=r"queries.jsonl:1: malformed JSON"):
        _add(reg, "beta", bad, tiny_path)
    with pytest.raises(DataError, match=r"no such data directory"):
        _add(reg, "beta", tmp_path / "missing", tiny_path)
    few = make_domain(tmp_path / "few", "alpha", 0)
    _one_judged_train_query(few)
    with pytest.raises(UsageError, match=r"no training queries with judgements in qrels/train.tsv"):
        service.update_domain(reg, "alpha", data=str(few), config=FAST, backbone=tiny_path, progress=False)
    empty_dev = make_domain(tmp_path / "dev", "gamma", 30)
    (empty_dev / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\ngammaq15\tgamma15\t0\n")  # judged, but nothing relevant
    with pytest.raises(UsageError, match=r"no held-out queries with judgements \(qrels/dev.tsv\)"):
        _add(reg, "gamma", empty_dev, tiny_path)


# ---------------------------------------------------------------- each file verified once


@pytest.fixture
def verified(monkeypatch) -> Counter:
    """sha256 -> how many times a store read the file and checked it (local: hashed; S3: downloaded and hashed)."""
    seen: Counter = Counter()
    local_check, s3_fetch = LocalStore.check, S3Store.fetch

    def check(self, f, what):
        seen[f.sha256] += 1
        return local_check(self, f, what)

    def fetch(self, f, target, what):
        seen[f.sha256] += 1
        return s3_fetch(self, f, target, what)

    monkeypatch.setattr(LocalStore, "check", check)  # LocalStore.fetch checks through it
    monkeypatch.setattr(S3Store, "fetch", fetch)  # S3Store.check fetches through it
    return seen


@pytest.mark.parametrize("store", ["local", "s3"])
def test_one_add_domain_verifies_each_file_once(request, tmp_path, tiny_path, store):
    from ddr.modules import load_backbone

    artifacts = f"s3://{request.getfixturevalue('s3').new_bucket()}/reg" if store == "s3" else None
    reg = Registry.init(tmp_path / "home", artifacts=artifacts)
    publish_module(reg, helpers.general(load_backbone(tiny_path)))
    set_alias(reg, "general@1", "production")
    _add(reg, "alpha", make_domain(tmp_path, "alpha", 0), tiny_path)
    earlier = [*reg.module_version("general@1").files, *reg.module_version("domain/alpha@1").files, *reg.router_version("router@1").files]
    assert {f.name for f in earlier} >= {"model.safetensors", "config.json", "replay.json", "gate.json", "gate.safetensors"}

    seen = request.getfixturevalue("verified")
    report = _add(reg, "beta", make_domain(tmp_path, "beta", 60), tiny_path)
    assert report.activated and report.router_version == 2
    assert max(seen.values()) == 1, {f.name: seen[f.sha256] for f in earlier if seen[f.sha256] > 1}
    assert {f.sha256 for f in earlier} <= set(seen)  # everything it read, it verified ...
    assert sum(seen.values()) == len({f.sha256 for f in earlier})  # ... once, and nothing else
    written = [*report.module.files, *reg.router_version("router@2").files]
    new = {f.sha256 for f in written} - {f.sha256 for f in earlier}  # (content-addressed: equal bytes are one file)
    assert new and not new & set(seen)  # hashed while written: the activation reads none of them back

    # alias set and rollback are commands of their own: they verify every file of their target, as before
    seen.clear()
    set_alias(reg, "router@1", "production")
    assert {f.sha256 for f in earlier} <= set(seen)
    seen.clear()
    rollback(reg, "router")
    target = [*written, *reg.module_version("general@1").files, *reg.module_version("domain/alpha@1").files]
    assert {f.sha256 for f in target} <= set(seen)
    reg.close()
