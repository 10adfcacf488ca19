"""The general phase's data recipe: collections balanced, unsupervised title -> text pairs."""

from __future__ import annotations

import torch

from ddr.trainer.general import Triple, balance, title_pairs


def test_balance_gives_every_collection_the_same_number_of_triples():
    few = [Triple(f"q{i}", "p", "n") for i in range(3)]
    many = [Triple(f"q{i}", "p", "n") for i in range(50)]
    assert len(balance(few, 10, 0)) == 10 and {t.query for t in balance(few, 10, 0)} == {"q0", "q1", "q2"}  # each at least thrice
    assert len(balance(many, 10, 0)) == 10 and len({t.query for t in balance(many, 10, 0)}) == 10  # no repeats while enough
    assert balance(many, 0, 0) == many
    assert balance(many, 10, 0) == balance(many, 10, 0)  # seeded


def test_title_pairs_use_titled_documents_and_a_similar_negative():
    docs = [{"title": "", "text": "untitled"}] + [{"title": f"t{i}", "text": f"body {i}"} for i in range(5)]
    texts = [f"{d['title']} {d['text']}".strip() for d in docs]
    emb = torch.eye(6)
    emb[2] = emb[1] * 0.9 + 0.1  # document 2 resembles document 1
    pairs = title_pairs(docs, texts, torch.nn.functional.normalize(emb, dim=-1), 5, 0)
    assert len(pairs) == 5 and all(p.query.startswith("t") and p.positive.startswith("body") for p in pairs)
    assert all(p.negative != texts[int(p.query[1:]) + 1] for p in pairs)  # never its own document
    assert title_pairs(docs[:1], texts[:1], emb[:1], 5, 0) == []
