"""Tiny in-process BERT backbones and their vocabulary, so the default suite needs no download."""

from __future__ import annotations

from pathlib import Path

WORDS = [f"w{i}" for i in range(120)]


def make_tokenizer(folder: Path):
    from transformers import BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    path = folder / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizer(vocab=str(path))  # transformers 5 ignores vocab_file=
    assert tokenizer.convert_tokens_to_ids(["w7"]) != [tokenizer.unk_token_id]
    return tokenizer


def make_backbone(folder: Path, seed: int = 0, layers: int = 2, hidden: int = 32, heads: int = 4, name: str = "tiny"):
    import torch
    from transformers import BertConfig, BertModel

    from ddr.modules import from_model

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(WORDS) + 5,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
    )
    model = BertModel(config, add_pooling_layer=False)
    return from_model(model, make_tokenizer(folder), name=name)


def sentence(*ids: int) -> str:
    return " ".join(WORDS[i] for i in ids)
