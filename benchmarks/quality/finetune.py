"""The full fine-tune a user runs today instead of add-domain: the baseline ``add_domain`` and ``stream_cost`` measure
ddr against (a bi-encoder with passages in the loop, or a query encoder against fixed passages)."""

from __future__ import annotations

import torch


def finetune(model, tokenizer, pooling, train, doc_texts, doc_index, passages, epochs, biencoder, lr=2e-5, batch=32, temperature=0.05, seed=0):
    """Full fine-tune of ``model``: against fixed ``passages`` (query side), or shared (bi-encoder)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    rows = [i for i, q in enumerate(train.ids) if any(d in doc_index for d in train.qrels[q])]

    def enc(texts, max_len):
        b = tokenizer(texts, truncation=True, max_length=max_len, padding=True, return_tensors="pt")
        return pooling(model(**b).last_hidden_state, b["attention_mask"])

    for _ in range(epochs):
        order = [rows[i] for i in torch.randperm(len(rows), generator=gen).tolist()]
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            q = enc([train.texts[i] for i in idx], 256)
            pos = [next(d for d in train.qrels[train.ids[i]] if d in doc_index) for i in idx]
            if biencoder:
                p = enc([doc_texts[doc_index[d]] for d in pos], 256)
                loss = torch.nn.functional.cross_entropy(q @ p.T / temperature, torch.arange(len(idx)))
            else:
                loss = torch.nn.functional.cross_entropy(q @ passages.T / temperature, torch.tensor([doc_index[d] for d in pos]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
