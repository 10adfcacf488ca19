"""The domain recipe's options against memorising and a winner's curse: the keep-close term (pseudo-queries cut
from documents no training query judged, a KL that keeps their ranking near general-only's) and cross-fitting."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch

from ddr.trainer.config import DomainTrainConfig
from ddr.trainer.data import QuerySet
from ddr.trainer.domain import pseudo_queries
from ddr.trainer.losses import keep_close


def test_keep_close_is_zero_for_the_teacher_and_grows_with_the_shift():
    torch.manual_seed(0)
    passages = torch.nn.functional.normalize(torch.randn(50, 8), dim=-1)
    teacher = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    assert keep_close(teacher, teacher, passages).item() == pytest.approx(0.0, abs=1e-6)
    near = torch.nn.functional.normalize(teacher + 0.05 * torch.randn(4, 8), dim=-1)
    far = torch.nn.functional.normalize(teacher + 1.0 * torch.randn(4, 8), dim=-1)
    assert 0 < keep_close(near, teacher, passages).item() < keep_close(far, teacher, passages).item()
    student = far.clone().requires_grad_(True)
    keep_close(student, teacher, passages).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_pseudo_queries_come_from_unjudged_documents_only():
    doc_ids = [f"d{i}" for i in range(6)]
    texts = [f"judged words of document {i} here" if i < 3 else f"free w{i} a b c d e f g h" for i in range(6)]
    texts[5] = "too short"  # under four words: never cut
    train = QuerySet(["q0", "q1"], ["x", "y"], {"q0": {"d0": 1, "d1": 1}, "q1": {"d2": 1}})
    config = DomainTrainConfig(pseudo_words=3, pseudo_count=40, seed=7)
    got = pseudo_queries(texts, doc_ids, train, config)
    assert len(got) == 40 and all(len(q.split()) == 3 for q in got)
    assert all("judged" not in q and "short" not in q for q in got)
    assert {w for q in got for w in q.split()} & {"w3", "w4"}  # both free documents are used
    assert got == pseudo_queries(texts, doc_ids, train, config)  # deterministic in the seed
    assert got != pseudo_queries(texts, doc_ids, train, DomainTrainConfig(pseudo_words=3, pseudo_count=40, seed=8))
    assert pseudo_queries(texts[:3], doc_ids[:3], train, config) == []  # nothing unjudged: no pseudo-queries


def test_training_with_the_term_keeps_pseudo_rankings_closer(tiny_backbone):
    """Trained hard on two queries, a module moves every query; with the term, queries about other
    documents stay nearer their general-only ranking than without it."""
    from ddr.modules import DDREncoder, PrefixModule
    from ddr.trainer.domain import train_domain

    words = [f"w{i}" for i in range(40)]
    texts = [" ".join(words[i : i + 4]) for i in range(0, 36, 2)]
    doc_ids = [f"d{i}" for i in range(len(texts))]
    plain = DDREncoder(tiny_backbone)
    passages = plain.encode_passages(texts)
    train = QuerySet(["q0", "q1"], [texts[0], texts[1]], {"q0": {"d5": 1}, "q1": {"d9": 1}})
    heldout = train  # so the chosen epoch is a trained one
    probe = [" ".join(words[i : i + 3]) for i in range(20, 34, 2)]
    teacher = plain.encode_queries(probe, route="none")

    def drift(keep_weight: float) -> float:
        cfg = DomainTrainConfig(prefix_length=4, epochs=12, patience=100, batch_size=2, lr=0.3, keep_weight=keep_weight, pseudo_words=3,
                                pseudo_count=64)
        module = PrefixModule.create(tiny_backbone, "domain", "t", cfg.prefix_length, base=False)
        enc = DDREncoder(tiny_backbone, None, [module])
        result = train_domain(enc, module, passages, doc_ids, train, heldout, cfg, pseudo=pseudo_queries(texts, doc_ids, train, cfg))
        kept = DDREncoder(tiny_backbone, None, [result.module])
        return keep_close(kept.encode_queries(probe, route="prior:t"), teacher, passages).item()

    free, kept = drift(0.0), drift(20.0)  # measured here: 0.77 and 0.01
    assert free > 0.1 and kept < 0.25 * free


def _task(tiny_backbone):
    from ddr.modules import DDREncoder

    words = [f"w{i}" for i in range(40)]
    texts = [" ".join(words[i : i + 4]) for i in range(0, 36, 2)]
    doc_ids = [f"d{i}" for i in range(len(texts))]
    passages = DDREncoder(tiny_backbone).encode_passages(texts)
    train = QuerySet([f"q{i}" for i in range(6)], [texts[i] for i in range(6)], {f"q{i}": {f"d{(i + 5) % 18}": 1} for i in range(6)})
    return texts, doc_ids, passages, train


def test_crossfit_chooses_on_training_queries_alone(tiny_backbone):
    """Under selection='crossfit' the held-out queries take no part in training or choosing: two very
    different held-out sets give the same module, and the out-of-fold evidence covers every training query."""
    from ddr.modules import DDREncoder, PrefixModule
    from ddr.trainer.domain import fit_domain

    texts, doc_ids, passages, train = _task(tiny_backbone)
    cfg = DomainTrainConfig(prefix_length=4, epochs=6, patience=2, batch_size=2, lr=0.3, selection="crossfit", folds=3)

    def make():
        module = PrefixModule.create(tiny_backbone, "domain", "t", cfg.prefix_length, base=False)
        return DDREncoder(tiny_backbone, None, [module]), module

    one = fit_domain(make, passages, doc_ids, train, QuerySet(["h"], [texts[7]], {"h": {"d7": 1}}), cfg)
    two = fit_domain(make, passages, doc_ids, train, QuerySet(["g", "k"], [texts[9], "w1"], {"g": {"d3": 1}, "k": {"d11": 1}}), cfg)
    assert one.crossfit is not None and one.crossfit.epochs == two.crossfit.epochs == one.best_epoch > 0
    assert sorted(one.crossfit.after) == sorted(one.crossfit.before) == sorted(train.ids)
    assert one.crossfit.curve[one.crossfit.epochs] == max(one.crossfit.curve)
    for a, b in zip(one.module.state_dict().values(), two.module.state_dict().values()):
        assert torch.equal(a, b)
    assert len(one.heldout_ndcg) == 1  # the held-out queries are scored once, before training, never during it


def test_crossfit_gains_travel_with_the_version_and_feed_the_router(reg, tmp_path, tiny_path):
    """add-domain --selection crossfit stores each training query's out-of-fold gain in the replay set;
    the router's utility for the module on its own training queries is that gain, not the in-sample one."""
    from beirdata import make_domain

    from ddr.modules import Router
    from ddr.service import domain as training
    from ddr.service import domain_data

    cfg = DomainTrainConfig(prefix_length=4, epochs=3, patience=2, batch_size=8, lr=5e-2, selection="crossfit", folds=2)
    report = training.add_domain(reg, "alpha", data=str(make_domain(tmp_path, "alpha", 0)), config=cfg, backbone=tiny_path, progress=False,
                                 force=True)
    assert any(s.name == "alpha (cross-fit)" and s.n == 12 for s in report.scores)  # 15 training queries less 3 held out
    replay = domain_data.read_replay(reg, report.module)
    gains = replay[domain_data.OOF_KEY]
    assert sorted(gains) == sorted(replay["train"]["ids"])
    rv = reg.router_version("router@production")
    with tempfile.TemporaryDirectory() as tmp:
        router = Router.load(reg.blobs.materialize(rv.files, Path(tmp) / "r", rv.ref))
    assert router.gains[:, 0].tolist() == pytest.approx([gains[q] for q in replay["train"]["ids"]])


def test_a_replay_set_with_bad_oof_gains_is_refused_in_one_line(reg, tmp_path):
    from types import SimpleNamespace

    from ddr.errors import UsageError
    from ddr.service.domain_data import OOF_KEY, _oof_gain

    train = QuerySet(["q1", "q2"], ["a", "b"], {"q1": {"d": 1}, "q2": {"d": 1}})
    mv = SimpleNamespace(ref="domain/x@1", name="x")
    assert _oof_gain(mv, {}, train) is None
    assert _oof_gain(mv, {OOF_KEY: {"q1": 0.5, "q2": -0.25}}, train) == {"q1": 0.5, "q2": -0.25}
    for bad in ({"q1": 0.5}, {"q1": 0.5, "q2": float("nan")}, {"q1": 2.0, "q2": 0.0}, {"q1": True, "q2": 0.0}, [0.1, 0.2]):
        with pytest.raises(UsageError, match="one gain in"):
            _oof_gain(mv, {OOF_KEY: bad}, train)


def test_folds_by_documents_keep_queries_that_share_a_document_together():
    from ddr.trainer.domain import split_folds

    qrels = {"a": {"d1": 1}, "b": {"d1": 1, "d2": 1}, "c": {"d2": 1}, "d": {"d3": 1}, "e": {"d4": 1}, "f": {"d5": 1}}
    train = QuerySet(list(qrels), list(qrels), qrels)
    by_query = split_folds(train, 2, by="queries")
    assert by_query == [["a", "c", "e"], ["b", "d", "f"]]  # a and b share d1 across folds
    by_doc = split_folds(train, 2, by="documents")
    assert sorted(q for f in by_doc for q in f) == sorted(qrels)
    for fold in by_doc:  # no out-of-fold query's document is a positive of the other folds
        rest = {d for other in by_doc if other is not fold for q in other for d in qrels[q]}
        assert all(not set(qrels[q]) & rest for q in fold)
    assert sorted(len(f) for f in by_doc) == [3, 3]
