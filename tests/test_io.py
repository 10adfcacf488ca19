"""Save/load: exact round trip, strict loading, one-line errors on foreign or damaged files."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import domain, general, router
from safetensors.torch import save_file
from tinybert import make_backbone

from ddr.errors import DdrError
from ddr.modules import DDREncoder, PrefixModule, Router
from ddr.modules.errors import ArtifactError, ShapeMismatchError


def test_prefix_round_trip_is_exact(tiny_backbone, texts, tmp_path):
    g = general(tiny_backbone)
    g.save(tmp_path / "g")
    loaded = PrefixModule.load(tmp_path / "g", tiny_backbone.spec)
    for name, tensor in g.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name])
    assert loaded.config == g.config
    assert torch.equal(
        DDREncoder(tiny_backbone, g).encode_passages(texts), DDREncoder(tiny_backbone, loaded).encode_passages(texts)
    )


def test_config_records_backbone_identity(tiny_backbone, tmp_path):
    domain(tiny_backbone, "a", 1).save(tmp_path / "a")
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert cfg["kind"] == "domain" and cfg["prefix_length"] == 4 and cfg["dtype"] == "float32"
    assert cfg["backbone"]["weights_sha256"] == tiny_backbone.spec.weights_sha256
    assert cfg["backbone"]["num_layers"] == 2 and cfg["backbone"]["num_heads"] == 4
    assert cfg["backbone"]["head_dim"] == 8
    assert cfg["code_version"]


def test_router_round_trip_is_exact(tiny_backbone, tmp_path):
    r = router(tiny_backbone, ["a", "b", "c"], threshold=0.2)
    r.save(tmp_path / "r")
    loaded = Router.load(tmp_path / "r", tiny_backbone.spec)
    assert loaded.domains == ["a", "b", "c"] and loaded.config == r.config
    x = torch.randn(4, tiny_backbone.spec.hidden_size)
    assert torch.equal(r(x), loaded(x))


@pytest.mark.parametrize(
    "kwargs, dimension",
    [({"layers": 3}, "num_layers=3"), ({"heads": 2}, "num_heads=2"), ({"hidden": 48, "heads": 4}, "head_dim=12")],
)
def test_mismatched_backbone_fails_naming_dimension(tiny_backbone, tmp_path, kwargs, dimension):
    general(tiny_backbone).save(tmp_path / "g")
    other = make_backbone(tmp_path, **kwargs)
    with pytest.raises(ShapeMismatchError) as err:
        PrefixModule.load(tmp_path / "g", other.spec)
    message = str(err.value)
    assert "\n" not in message
    assert dimension.split("=")[0] in message and "general module 'general'" in message
    # The error is a DdrError (the CLI's one-line path) and a ValueError for library callers.
    assert isinstance(err.value, DdrError) and isinstance(err.value, ValueError)


def test_encoder_refuses_module_of_other_backbone(tiny_backbone, tmp_path):
    other = make_backbone(tmp_path, layers=3)
    with pytest.raises(ShapeMismatchError, match="num_layers"):
        DDREncoder(tiny_backbone, general(other))


def test_mixed_prefix_lengths_refused(tiny_backbone):
    with pytest.raises(ShapeMismatchError, match="one prefix length"):
        DDREncoder(tiny_backbone, general(tiny_backbone, prefix_length=4), [domain(tiny_backbone, "a", 1, prefix_length=8)])


def test_truncated_weights_file_refused(tiny_backbone, tmp_path):
    general(tiny_backbone).save(tmp_path / "g")
    path = tmp_path / "g" / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ArtifactError, match="unreadable safetensors"):
        PrefixModule.load(tmp_path / "g")


def test_nan_in_weights_refused(tiny_backbone, tmp_path):
    g = general(tiny_backbone)
    g.save(tmp_path / "g")
    state = g.state_dict()
    state["values"][0, 0, 0, 0] = float("nan")
    save_file(state, str(tmp_path / "g" / "model.safetensors"))
    with pytest.raises(ArtifactError, match="NaN or Inf"):
        PrefixModule.load(tmp_path / "g")


def test_wrong_tensor_shape_refused(tiny_backbone, tmp_path):
    g = general(tiny_backbone)
    g.save(tmp_path / "g")
    state = {k: v.clone() for k, v in g.state_dict().items()}
    state["gates"] = torch.zeros(3, 3)
    save_file(state, str(tmp_path / "g" / "model.safetensors"))
    with pytest.raises(ShapeMismatchError, match="'gates' has shape"):
        PrefixModule.load(tmp_path / "g")


def test_extra_tensor_refused(tiny_backbone, tmp_path):
    g = general(tiny_backbone)
    g.save(tmp_path / "g")
    save_file({**g.state_dict(), "payload": torch.zeros(1)}, str(tmp_path / "g" / "model.safetensors"))
    with pytest.raises(ArtifactError, match="unexpected \\['payload'\\]"):
        PrefixModule.load(tmp_path / "g")


def test_bad_config_refused(tiny_backbone, tmp_path):
    general(tiny_backbone).save(tmp_path / "g")
    cfg_path = tmp_path / "g" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["kind"] = "os.system"
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ArtifactError, match="prefix kind"):
        PrefixModule.load(tmp_path / "g")
    cfg_path.write_text("{not json")
    with pytest.raises(ArtifactError, match="invalid JSON"):
        PrefixModule.load(tmp_path / "g")


def test_unknown_config_keys_dropped_with_warning(tiny_backbone, tmp_path, caplog):
    general(tiny_backbone).save(tmp_path / "g")
    cfg_path = tmp_path / "g" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["from_the_future"] = 1
    cfg_path.write_text(json.dumps(cfg))
    loaded = PrefixModule.load(tmp_path / "g")
    assert loaded.config.kind == "general"
    assert "from_the_future" in caplog.text
