"""add-domain / update-domain / retrain-router on tiny models: frozen backbone, untouched earlier
domains, no passage re-encoded, a gate that refuses harm, and no half-registered version."""

from __future__ import annotations

import pytest
import torch
from beirdata import make_domain
from click.testing import CliRunner

from ddr.cli.app import main
from ddr.errors import UsageError
from ddr.modules import weights_sha256
from ddr.registry import Registry
from ddr.registry.maintenance import verify
from ddr.registry.tx import Tx
from ddr.service import domain as training
from ddr.service import domain_data, live
from ddr.trainer.config import DomainTrainConfig

FAST = DomainTrainConfig(prefix_length=4, epochs=3, batch_size=8, lr=5e-2)


@pytest.fixture
def domains(tmp_path):
    return make_domain(tmp_path, "alpha", 0), make_domain(tmp_path, "beta", 60)


@pytest.fixture
def captured(monkeypatch):
    """Remember every encoder add-domain loads, to hash its backbone afterwards."""
    seen = []
    original = live.load_encoder

    def spy(*args, **kwargs):
        enc = original(*args, **kwargs)
        seen.append((enc, weights_sha256(enc.backbone.model)))
        return enc

    monkeypatch.setattr(live, "load_encoder", spy)
    return seen


def test_add_two_domains(reg, domains, tiny_path, captured):
    alpha, beta = domains
    first = training.add_domain(reg, "alpha", data=str(alpha), instruction="alpha words", config=FAST, backbone=tiny_path, progress=False, force=True)
    assert first.activated and first.module.ref == "domain/alpha@1" and first.router_version == 1
    assert first.passages_encoded == 20
    assert reg.router_version("router@production").domains == (("alpha", 1),)
    alpha_files = reg.module_version("domain/alpha@1").files

    second = training.add_domain(reg, "beta", data=str(beta), config=FAST, backbone=tiny_path, progress=False, force=True)
    assert second.passages_encoded == 20  # beta's corpus only: alpha's passages came from the cache
    rv = reg.router_version("router@production")
    assert rv.version == 2 and rv.domains == (("alpha", 1), ("beta", 1))
    assert reg.module_version("domain/alpha@1").files == alpha_files  # the earlier domain is bit-identical
    assert {s.name for s in second.scores} >= {"alpha", "beta"}
    # The backbone never changed, in any encoder the commands loaded.
    for enc, before in captured:
        assert weights_sha256(enc.backbone.model) == before
    # Replay sets are stored with each domain, the held-out slice never overlaps training.
    replay = domain_data.read_replay(reg, reg.module_version("domain/beta@1"))
    assert set(replay["train"]["ids"]).isdisjoint(replay["heldout"]["ids"]) and replay["heldout"]["ids"]
    with pytest.raises(UsageError, match="already live"):
        training.add_domain(reg, "beta", data=str(beta), config=FAST, backbone=tiny_path, progress=False)


def test_gate_refuses_harm(reg, domains, tiny_path, monkeypatch):
    alpha, beta = domains
    training.add_domain(reg, "alpha", data=str(alpha), config=FAST, backbone=tiny_path, progress=False, force=True)
    from ddr.service import routing

    real_fit = routing.fit

    def sabotage(encoder, modules, sets, kind):
        router = real_fit(encoder, modules, sets, kind="linear")
        with torch.no_grad():  # every query to beta, whatever it looks like
            router.weight.zero_()
            router.bias.copy_(torch.tensor([0.0, 50.0]))
        return router

    from ddr.trainer import domain as domain_trainer

    real_train = domain_trainer.train_domain

    def harmful(*args, **kwargs):
        result = real_train(*args, **kwargs)
        with torch.no_grad():  # a module that scrambles every query it touches
            gen = torch.Generator().manual_seed(0)
            result.module.keys.copy_(20 * torch.randn(result.module.keys.shape, generator=gen))
            result.module.values.copy_(20 * torch.randn(result.module.values.shape, generator=gen))
            result.module.gates.fill_(3.0)
        return result

    monkeypatch.setattr(routing, "fit", sabotage)
    monkeypatch.setattr(domain_trainer, "train_domain", harmful)
    report = training.add_domain(reg, "beta", data=str(beta), config=FAST, backbone=tiny_path, progress=False)
    assert not report.activated
    assert any(r.startswith("alpha: dropped") for r in report.reasons), report.reasons
    assert reg.router_version("router@production").version == 1  # the old router stays live
    assert reg.router_version("router@2").domains == (("alpha", 1), ("beta", 1))  # candidate kept for inspection


def test_interrupted_registration_leaves_nothing(reg, domains, tiny_path, monkeypatch):
    alpha, _ = domains

    def crash(*args, **kwargs):
        raise RuntimeError("killed between module and router rows")

    monkeypatch.setattr(Tx, "insert_router", crash)
    with pytest.raises(RuntimeError):
        training.add_domain(reg, "alpha", data=str(alpha), config=FAST, backbone=tiny_path, progress=False, force=True)
    monkeypatch.undo()
    assert reg.module_versions() == [] and reg.router_versions() == []
    assert verify(reg).ok
    again = training.add_domain(reg, "alpha", data=str(alpha), config=FAST, backbone=tiny_path, progress=False, force=True)
    assert again.module.version == 1 and again.router_version == 1


def test_update_domain_and_retrain_router(reg, domains, tiny_path):
    alpha, beta = domains
    training.add_domain(reg, "alpha", data=str(alpha), config=FAST, backbone=tiny_path, progress=False, force=True)
    training.add_domain(reg, "beta", data=str(beta), config=FAST, backbone=tiny_path, progress=False, force=True)
    report = training.update_domain(reg, "alpha", data=str(alpha), config=FAST, backbone=tiny_path, progress=False, force=True)
    assert report.module.ref == "domain/alpha@2" and report.module.parent_version == 1
    assert report.passages_encoded == 0
    assert reg.router_version("router@production").domains == (("beta", 1), ("alpha", 2))
    rr = training.retrain_router(reg, force=True, backbone=tiny_path, progress=False)
    assert rr.activated and reg.router_version("router@production").version == rr.router_version
    assert rr.passages_encoded == 0


def test_training_is_deterministic(reg, tmp_path, domains, tiny_path):
    alpha, _ = domains
    a = training.add_domain(reg, "alpha", data=str(alpha), config=FAST, backbone=tiny_path, progress=False, force=True)
    other = Registry.init(tmp_path / "other")
    b = training.add_domain(other, "alpha", data=str(alpha), config=FAST, backbone=tiny_path, progress=False, force=True)
    weights = lambda r, mv: next(f.sha256 for f in mv.files if f.name == "model.safetensors")
    assert weights(reg, a.module) == weights(other, b.module)
    assert a.module.metrics["heldout_curve"] == b.module.metrics["heldout_curve"]


def test_cli_add_domain(tmp_path, domains, tiny_path):
    alpha, _ = domains
    home = tmp_path / "clihome"
    run = lambda *a: CliRunner().invoke(main, ["--home", str(home), *a])
    run("init")
    result = run("add-domain", "alpha", "--data", str(alpha), "--backbone", tiny_path, "--epochs", "2", "--prefix-length", "4", "--quiet", "--force")
    assert result.exit_code == 0, result.output
    assert "registered domain/alpha@1 and router@1" in result.output and "activated" in result.output
    result = run("add-domain", "bad name", "--data", str(alpha), "--backbone", tiny_path)
    assert result.exit_code == 1 and "invalid domain name" in result.output
    result = run("update-domain", "ghost", "--data", str(alpha), "--backbone", tiny_path)
    assert result.exit_code == 1 and "not live" in result.output


def test_train_general(reg, domains, tiny_path, captured):
    from ddr.service.general import train_general
    from ddr.trainer.config import GeneralTrainConfig

    alpha, beta = domains
    cfg = GeneralTrainConfig(prefix_length=4, batch_size=4, max_steps=6, lr=5e-2)
    report = train_general(reg, [str(alpha), str(beta)], config=cfg, force=True, backbone=tiny_path, progress=False)
    assert report.module.ref == "general/general@1" and report.steps == 6 and report.activated
    assert [s.name for s in report.scores] == ["alpha", "beta"]
    assert reg.module_version("general@production").version == 1
    for enc, before in captured:
        assert weights_sha256(enc.backbone.model) == before
    # Domains trained on top of it; a second general version is then registered but never swapped in.
    # train-general encoded the candidate's passages under its content key: adding a domain now
    # finds them cached (encodes nothing), and the live key equals the one computed before registering
    added = training.add_domain(reg, "alpha", data=str(alpha), config=FAST, backbone=tiny_path, progress=False, force=True)
    assert added.passages_encoded == 0
    assert reg.router_version("router@production").general_version == 1
    second = train_general(reg, [str(alpha)], config=cfg, force=True, backbone=tiny_path, progress=False)
    assert second.module.version == 2 and second.module.parent_version == 1 and not second.activated
    assert any("update-domain" in r for r in second.reasons)
    assert reg.router_version("router@production").general_version == 1
