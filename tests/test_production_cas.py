"""Production can never be silently wrong: every command that decided from what was live moves
production only if it is still that (compare-and-set), on tiny models, end to end."""

from __future__ import annotations

import pytest
from beirdata import make_domain
from click.testing import CliRunner

from ddr.cli.app import main
from ddr.registry import AliasMovedError
from ddr.registry.aliases import history, rollback, set_alias
from ddr.service import domain as service
from ddr.trainer.config import DomainTrainConfig, GeneralTrainConfig

FAST = DomainTrainConfig(prefix_length=4, epochs=2, batch_size=8, lr=5e-2)


@pytest.fixture
def three(tmp_path):
    return {n: make_domain(tmp_path, n, off) for n, off in (("alpha", 0), ("beta", 40), ("gamma", 80))}


def _add(reg, name, three, tiny_path, **kw):
    return service.add_domain(reg, name, data=str(three[name]), config=FAST, backbone=tiny_path, progress=False, force=True, **kw)


def _during_router_fit(monkeypatch, action):
    """Run ``action`` once, while add-domain is between reading production and activating."""
    from ddr.service import routing

    real = routing.fit
    calls = []

    def racing(*args, **kwargs):
        if not calls:
            calls.append(1)
            action()
        return real(*args, **kwargs)

    monkeypatch.setattr(routing, "fit", racing)


def test_rollback_during_add_domain_is_not_undone(reg, three, tiny_path, monkeypatch):
    _add(reg, "alpha", three, tiny_path)
    _add(reg, "beta", three, tiny_path)
    assert reg.router_version("router@production").version == 2
    _during_router_fit(monkeypatch, lambda: rollback(reg, "router", to=1, reason="beta misbehaves"))
    with pytest.raises(AliasMovedError) as err:
        _add(reg, "gamma", three, tiny_path)
    message = str(err.value)
    assert "router@production moved from 2 to 1 (rollback by" in message and "beta misbehaves" in message
    assert "router@3 is registered but not live" in message and "alias set router@3 production" in message
    assert reg.router_version("router@production").version == 1  # the rollback stands
    assert reg.router_version("router@3").domains == (("alpha", 1), ("beta", 1), ("gamma", 1))  # candidate kept
    moves = [(e.action, e.from_version, e.to_version) for e in history(reg, "router@production")]
    assert moves == [("rollback", 2, 1), ("alias.set", 1, 2), ("alias.set", None, 1)]


def test_two_add_domains_at_once_never_drop_one(reg, three, tiny_path, monkeypatch):
    _add(reg, "alpha", three, tiny_path)
    _during_router_fit(monkeypatch, lambda: _add(reg, "gamma", three, tiny_path))  # lands first
    with pytest.raises(AliasMovedError, match="moved from 1 to 2"):
        _add(reg, "beta", three, tiny_path)
    live = reg.router_version("router@production")
    assert live.version == 2 and live.domains == (("alpha", 1), ("gamma", 1))  # gamma is not silently dropped
    assert reg.router_version("router@3").domains == (("alpha", 1), ("beta", 1))


def test_retrain_router_and_cli_refuse_with_one_line(tmp_path, reg, three, tiny_path, monkeypatch):
    _add(reg, "alpha", three, tiny_path)
    _add(reg, "beta", three, tiny_path)
    _during_router_fit(monkeypatch, lambda: set_alias(reg, "router@1", "production", reason="by hand"))
    with pytest.raises(AliasMovedError, match="router@3 is registered but not live: run retrain-router again"):
        service.retrain_router(reg, force=True, backbone=tiny_path, progress=False)
    monkeypatch.undo()
    _during_router_fit(monkeypatch, lambda: rollback(reg, "router", to=2))
    result = CliRunner().invoke(
        main, ["--home", str(reg.home), "add-domain", "gamma", "--data", str(three["gamma"]), "--backbone", tiny_path,
               "--prefix-length", "4", "--epochs", "1", "--force", "--quiet"],
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: router@production moved from 1 to 2"), result.output


def test_train_general_does_not_go_live_under_a_new_domain(reg, three, tiny_path, monkeypatch):
    from ddr.service import general

    real = general._train

    def train_then_race(*args, **kwargs):
        result = real(*args, **kwargs)
        _add(reg, "alpha", three, tiny_path)  # a domain goes live while the general candidate trains
        return result

    monkeypatch.setattr(general, "_train", train_then_race)
    cfg = GeneralTrainConfig(prefix_length=4, batch_size=4, max_steps=2, lr=5e-2)
    with pytest.raises(AliasMovedError, match="router@production moved from - to 1"):
        general.train_general(reg, [str(three["beta"])], config=cfg, force=True, backbone=tiny_path, progress=False)
    assert reg.router_version("router@production").domains == (("alpha", 1),)
    assert [e.action for e in history(reg, "general/general@production")] == []  # general never moved
