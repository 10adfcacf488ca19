"""Shared fixtures: tiny in-process BERT backbones, so the default suite needs no download."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory):
    return make_backbone(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Never touch the user's registry or Hub cache from a test."""
    monkeypatch.setenv("DDR_HOME", str(tmp_path / "ddr-home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


def sentence(*ids: int) -> str:
    return " ".join(WORDS[i] for i in ids)


@pytest.fixture
def texts():
    """Different lengths on purpose: batching pads the short ones."""
    return [
        sentence(1, 2, 3),
        sentence(*range(10, 40)),
        sentence(7),
        sentence(50, 51, 52, 53, 54, 55, 56, 57),
        sentence(*range(60, 75)),
    ]


BEIR_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "beir"
BEIR_DIR = Path(os.environ.get("DDR_BEIR_DIR", BEIR_DIR)).resolve()
