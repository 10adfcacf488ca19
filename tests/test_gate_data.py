"""Gate data travels with each domain version: earlier corpora are never needed, and a corpus that
is read must be the one the version was trained on."""

from __future__ import annotations

import json
import shutil

import pytest
from beirdata import make_domain

from ddr.errors import UsageError
from ddr.service import domain as service
from ddr.service import domain_data, live
from ddr.trainer.config import DomainTrainConfig

FAST = DomainTrainConfig(prefix_length=4, epochs=2, batch_size=8, lr=5e-2)


def _add(reg, name, folder, tiny_path, **kw):
    return service.add_domain(reg, name, data=str(folder), config=FAST, backbone=tiny_path, progress=False, force=True, **kw)


def test_versions_carry_replay_and_gate_data(reg, tmp_path, tiny_path):
    alpha = make_domain(tmp_path, "alpha", 0, n_docs=40)
    mv = _add(reg, "alpha", alpha, tiny_path).module
    assert {f.name for f in mv.files} == {"model.safetensors", "config.json", "replay.json", "gate.json", "gate.safetensors"}
    gate = json.loads(reg.export(mv.ref, tmp_path / "x").joinpath("gate.json").read_text())
    replay = domain_data.read_replay(reg, mv)
    judged = {d for q in replay["heldout"]["ids"] for d in replay["heldout"]["qrels"][q]}
    assert judged <= set(gate["doc_ids"]) and len(gate["doc_ids"]) <= 40
    assert gate["general_key"] == live.resolve(reg).general_key and gate["corpus_fingerprint"] == mv.data_fingerprint


def test_add_domain_needs_no_earlier_corpus(reg, tmp_path, tiny_path):
    alpha, beta = make_domain(tmp_path, "alpha", 0), make_domain(tmp_path, "beta", 60)
    _add(reg, "alpha", alpha, tiny_path)
    shutil.rmtree(alpha)  # the earlier corpus is gone (another machine, a pulled registry, a moved folder)
    report = _add(reg, "beta", beta, tiny_path)
    assert report.passages_encoded == 20  # beta's corpus only
    assert [s.name for s in report.scores] == ["beta", "alpha", "beta (top-k)"]
    rr = service.retrain_router(reg, force=True, backbone=tiny_path, progress=False)
    assert rr.passages_encoded == 0 and rr.activated


def test_gate_data_scores_like_the_full_corpus(reg, tmp_path, tiny_path):
    """On a tiny corpus the pool holds every passage: the stored-data gate equals the full-corpus gate."""
    alpha = make_domain(tmp_path, "alpha", 0)
    _add(reg, "alpha", alpha, tiny_path)
    state = live.resolve(reg)
    enc = live.load_encoder(reg, state, backbone=tiny_path)
    stored = domain_data.from_version(reg, enc, state.domains[0], general_key=state.general_key, progress=False)
    full = domain_data.from_folder(reg, enc, "alpha", str(alpha), general_key=state.general_key, progress=False)
    assert stored.source == "gate data" and full.source == "corpus"
    for route in ("prior:alpha", "none", "topk"):
        assert service.score(enc, stored, route) == pytest.approx(service.score(enc, full, route))


def _one_domain(reg, tmp_path, tiny_path, name="alpha"):
    """One live domain, its folder, the live encoder and state."""
    folder = make_domain(tmp_path, name, 0)
    mv = _add(reg, name, folder, tiny_path).module
    state = live.resolve(reg)
    enc = live.load_encoder(reg, state, backbone=tiny_path)
    return folder, enc, state, mv


def test_stale_or_missing_gate_data_reads_the_corpus_only_if_it_is_the_same(reg, tmp_path, tiny_path, monkeypatch):
    folder, enc, _, mv = _one_domain(reg, tmp_path, tiny_path)
    # Gate data made under another general prefix: the recorded corpus is read instead ...
    d = domain_data.from_version(reg, enc, mv, general_key="general:another", progress=False)
    assert d.source == "corpus" and len(d.doc_ids) == 20
    # ... but only if it is still the corpus the version was trained on.
    other = make_domain(tmp_path / "elsewhere", "alpha", 30)  # another collection put where alpha was
    shutil.rmtree(folder)
    shutil.copytree(other, folder)
    with pytest.raises(UsageError, match="is not the one it was trained on"):
        domain_data.from_version(reg, enc, mv, general_key="general:another", progress=False)
    shutil.rmtree(folder)
    with pytest.raises(UsageError, match=r"its corpus is not at .*; run update-domain alpha --data DIR"):
        domain_data.from_version(reg, enc, mv, general_key="general:another", progress=False)


def test_prefix_length_mismatch_is_refused_before_training(reg, tmp_path, tiny_path, monkeypatch):
    _add(reg, "alpha", make_domain(tmp_path, "alpha", 0), tiny_path)
    beta = make_domain(tmp_path, "beta", 60)

    def never(*args, **kwargs):
        raise AssertionError("trained before checking the prefix length")

    monkeypatch.setattr(service, "_train", never)
    monkeypatch.setattr(domain_data, "encode", never)  # not even the new corpus is encoded first
    monkeypatch.setattr(domain_data, "from_version", never)  # nor an earlier domain's gate data read
    with pytest.raises(UsageError, match=r"--prefix-length 8 differs from the live modules' \(domain/alpha P=4\).*use --prefix-length 4"):
        service.add_domain(reg, "beta", data=str(beta), config=DomainTrainConfig(prefix_length=8), backbone=tiny_path, progress=False)
