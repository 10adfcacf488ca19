"""Training options are generated from the config dataclasses: one declaration per field, no hand copy."""

from __future__ import annotations

from dataclasses import dataclass, field

import click
from click.testing import CliRunner

from ddr.cli import cmd_train, options
from ddr.trainer.config import DomainTrainConfig, GeneralTrainConfig, option, options_of


def _params(cmd: click.Command) -> dict[str, click.Option]:
    return {p.name: p for p in cmd.params if isinstance(p, click.Option)}


def test_every_marked_field_is_an_option_with_the_fields_default():
    for cls, cmds in ((DomainTrainConfig, (cmd_train.add_domain, cmd_train.update_domain)), (GeneralTrainConfig, (cmd_train.train_general,))):
        marked = options_of(cls)
        assert len(marked) >= 6
        for cmd in cmds:
            params = _params(cmd)
            for f in marked:
                assert params[f.name].default == f.default, (cmd.name, f.name)
                assert params[f.name].help == f.metadata["option"]["help"]


def test_the_flag_override_and_bounds_come_from_the_field():
    params = _params(cmd_train.add_domain)
    assert params["lexical_weight"].opts == ["--train-lexical-weight"]
    assert isinstance(params["lexical_weight"].type, click.FloatRange)
    assert (params["epochs"].type.min, params["epochs"].type.max) == (1, 1000)
    assert isinstance(params["lr"].type, click.types.FloatParamType) and not isinstance(params["lr"].type, click.FloatRange)


def test_a_new_field_becomes_an_option_and_reaches_the_config():
    @dataclass(frozen=True)
    class Cfg:
        steps: int = field(default=3, metadata=option("Steps.", low=1, high=9))
        rate: float = field(default=0.5, metadata=option("Rate.", flag="--the-rate"))
        hidden: int = 7

    seen = {}

    @click.command()
    @options.config_options(Cfg)
    def cmd(**kw):
        seen["cfg"] = options.config_from(Cfg, kw)
        seen["left"] = kw

    runner = CliRunner()
    assert runner.invoke(cmd, ["--steps", "4", "--the-rate", "0.25"]).exit_code == 0
    assert seen == {"cfg": Cfg(steps=4, rate=0.25), "left": {}}
    out = runner.invoke(cmd, ["--steps", "10"])
    assert out.exit_code == 2 and "1<=x<=9" in out.output
    assert runner.invoke(cmd, ["--hidden", "1"]).exit_code == 2
