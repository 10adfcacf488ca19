"""``--dtype auto``: bf16 where the CPU has bf16 units (or on a GPU with bf16), float32 elsewhere; the
chosen dtype is printed, recorded with the index and part of the embedding cache key."""

from __future__ import annotations

import pytest
from beirdata import make_domain
from click.testing import CliRunner

from ddr.cli.app import main
from ddr.errors import UsageError
from ddr.modules import precision


@pytest.mark.parametrize("flags, expected", [
    ({"avx2", "avx512f", "avx512_bf16"}, "bfloat16"),
    ({"avx2", "amx_tile", "amx_bf16"}, "bfloat16"),
    ({"avx2", "avx512f", "avx512_vnni"}, "float32"),  # AVX-512 without bf16 units
    ({"avx2", "fma"}, "float32"),
    (set(), "float32"),  # no /proc/cpuinfo
])
def test_auto_follows_the_cpu_units(monkeypatch, flags, expected):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    dtype, why = precision.resolve_dtype("auto", "cpu")
    assert dtype == expected and why.startswith("auto: ")


def test_explicit_dtypes_are_kept_and_env_stands_for_none(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert precision.resolve_dtype("float32") == ("float32", "as asked")
    assert precision.resolve_dtype("bfloat16")[0] == "bfloat16"
    monkeypatch.setenv("DDR_DTYPE", "float32")
    assert precision.resolve_dtype(None)[0] == "float32"
    monkeypatch.delenv("DDR_DTYPE")
    assert precision.resolve_dtype(None)[0] == "bfloat16"
    with pytest.raises(UsageError, match="dtype must be one of"):
        precision.resolve_dtype("float16")


def test_device_defaults_to_the_cpu(monkeypatch):
    monkeypatch.delenv("DDR_DEVICE", raising=False)
    assert precision.pick_device() == "cpu"
    with pytest.raises(UsageError, match="device must be auto, cpu or cuda"):
        precision.pick_device("tpu")


def test_index_build_prints_and_records_the_chosen_dtype(tmp_path, tiny_path, monkeypatch):
    from ddr.registry import Registry

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    monkeypatch.delenv("DDR_DTYPE")
    data = make_domain(tmp_path, "alpha", 0)
    home = tmp_path / "home"
    Registry.init(home).close()
    base = ["--home", str(home), "index", "build", "--data", str(data), "--backbone", tiny_path]
    auto = CliRunner().invoke(main, base)
    assert auto.exit_code == 0, auto.output
    assert "encoding passages (bfloat16)" in auto.stderr  # the progress bar
    assert "20 encoded now" in auto.stdout and auto.stdout.rstrip().endswith("bfloat16")
    fp32 = CliRunner().invoke(main, [*base, "--dtype", "float32", "--quiet"])
    assert fp32.stderr == "" and fp32.stdout.rstrip().endswith("float32")
    assert "20 encoded now" in fp32.stdout  # another dtype, another cache key: nothing reused
    again = CliRunner().invoke(main, base)
    assert "0 encoded now" in again.stdout  # the bf16 passages are reused
    reg = Registry(home)
    assert [r.params["dtype"] for r in reg.index_records()] == ["bfloat16", "float32", "bfloat16"]
    reg.close()
