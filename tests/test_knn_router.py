"""The knn router routes by what helps: the nearest training queries' per-module gains."""

from __future__ import annotations

import json

import pytest
import torch

from ddr.modules import Router, RouterConfig
from ddr.modules.errors import ArtifactError, ShapeMismatchError
from ddr.trainer.router import fit_knn_router

DOMAINS = ["a", "b"]


def _router(margin: float = 0.02):
    # two clusters of training queries; module a helps the first cluster, module b the second;
    # a third cluster is helped by neither (its best gain is below the margin)
    gen = torch.Generator().manual_seed(0)
    centres = torch.eye(3, 8) * 5
    reps = torch.cat([c + 0.1 * torch.randn(6, 8, generator=gen) for c in centres])
    gains = torch.tensor([[0.3, -0.1]] * 6 + [[0.0, 0.2]] * 6 + [[0.01, -0.2]] * 6)
    return fit_knn_router(reps, gains, DOMAINS, margin=margin, k=4), centres


def test_routes_to_the_module_that_helps_its_neighbours_and_abstains_elsewhere():
    router, centres = _router()
    probs = router(centres + 0.05)
    assert probs.tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    assert router.abstains(centres).tolist() == [False, False, True]
    assert router.confidence(centres[:1]).item() == pytest.approx(0.3)
    assert _router(margin=0.0)[0](centres[2:] + 0.05).tolist() == [[1.0, 0.0]]  # a gain of 0.01 passes a zero margin


def test_saved_and_loaded_strictly(tmp_path):
    router, centres = _router()
    folder = router.save(tmp_path / "r")
    loaded = Router.load(folder)
    assert loaded.config.kind == "knn" and loaded.config.examples == 18
    assert torch.equal(loaded(centres), router(centres))
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "examples": 17}))
    with pytest.raises(ShapeMismatchError, match="'keys' has shape"):
        Router.load(folder)


def test_a_linear_router_written_before_these_fields_still_loads_strictly():
    old = {"domains": ["a"], "input": "tokens", "input_dim": 4, "temperature": 1.0, "abstain_threshold": 0.0,
           "backbone": {"name": "x", "weights_sha256": "a" * 64, "num_layers": 1, "num_heads": 1, "head_dim": 4, "hidden_size": 4},
           "code_version": "0.1.0"}
    config = RouterConfig.from_dict(old, strict=True)
    assert (config.kind, config.lexical_weights, config.lexical_weight) == ("linear", [], 0.5)
    with pytest.raises(ArtifactError, match="lexical weights"):
        RouterConfig.from_dict({**old, "lexical_weights": [0.5, 0.5]}, strict=True)
    with pytest.raises(ArtifactError, match="router kind"):
        RouterConfig.from_dict({**old, "kind": "oracle"}, strict=True)
