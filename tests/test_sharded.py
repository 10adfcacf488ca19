"""Sharded encoding on torch.distributed: ``torchrun --nproc-per-node 2 -m ddr index build`` with two
CPU workers (gloo) writes the same embedding cache and index as one process, shard for shard, and
resumes from the shards a previous run left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from beirdata import make_domain

from ddr.registry import Registry

SHARD = "4"  # 20 passages: 5 shards, so both ranks get work


def torchrun(home: Path, *args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "DDR_CACHE_SHARD": SHARD, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", "ddr", "--home", str(home), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)


def single(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DDR_CACHE_SHARD": SHARD, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "ddr", "--home", str(home), *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def shards(home: Path) -> list[Path]:
    return sorted((home / "cache" / "embeddings").glob("*/shard-*.npy"))


@pytest.mark.slow  # torchrun: 2 worker processes, each loading torch and the backbone
def test_two_workers_write_what_one_process_writes(tmp_path, tiny_path):
    data = make_domain(tmp_path, "alpha", 0)
    build = ["index", "build", "--data", str(data), "--backbone", tiny_path, "--quiet"]
    one, two = tmp_path / "one", tmp_path / "two"
    for home in (one, two):
        Registry.init(home).close()
    a = single(one, *build)
    assert a.returncode == 0, a.stderr
    b = torchrun(two, *build)
    assert b.returncode == 0, b.stderr[-3000:]
    assert "20 encoded now" in a.stdout and "20 encoded now" in b.stdout
    assert b.stdout.count("index alpha@1") == 1  # only rank 0 registers
    sa, sb = shards(one), shards(two)
    assert [p.name for p in sa] == [p.name for p in sb] == [f"shard-{n:05d}.npy" for n in range(5)]
    assert [p.parent.name for p in sa] == [p.parent.name for p in sb]  # the same cache key
    for x, y in zip(sa, sb):
        np.testing.assert_array_equal(np.load(x), np.load(y))
    ra, rb = Registry(one), Registry(two)
    # The dense side is byte-identical. (The BM25 side's vocabulary order follows Python's string hash
    # seed, so two single-process builds differ there too.)
    fa = {f.name: f.sha256 for f in ra.index_records()[0].files if not f.name.startswith("lexical/")}
    fb = {f.name: f.sha256 for f in rb.index_records()[0].files if not f.name.startswith("lexical/")}
    assert fa == fb and "index.faiss" in "".join(fa)
    assert len(rb.index_records()) == 1


@pytest.mark.slow  # torchrun: 2 worker processes, each loading torch and the backbone
def test_a_sharded_run_resumes_from_the_shards_left(tmp_path, tiny_path):
    data = make_domain(tmp_path, "alpha", 0)
    home = tmp_path / "home"
    Registry.init(home).close()
    build = ["index", "build", "--data", str(data), "--backbone", tiny_path, "--quiet"]
    assert single(home, *build).returncode == 0
    for p in shards(home)[1::2]:  # as if a killed run had finished shards 0, 2 and 4
        p.unlink()
    kept = {p.name: np.load(p) for p in shards(home)}
    rerun = torchrun(home, *build)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "(8 encoded now, 12 from cache)" in rerun.stdout
    for p in shards(home):
        if p.name in kept:
            np.testing.assert_array_equal(np.load(p), kept[p.name])


@pytest.mark.slow  # torchrun: 2 worker processes, each loading torch and the backbone
def test_train_general_under_torchrun_trains_on_every_rank(tmp_path, tiny_path):
    alpha, beta = make_domain(tmp_path, "alpha", 0), make_domain(tmp_path, "beta", 60)
    home = tmp_path / "home"
    Registry.init(home).close()
    run = torchrun(home, "train-general", "--data", str(alpha), "--data", str(beta), "--backbone", tiny_path, "--prefix-length", "4",
                   "--batch-size", "4", "--max-steps", "6", "--lr", "5e-2", "--force")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "on 2 processes (DistributedDataParallel)" in run.stdout
    assert "step 10" not in run.stdout and run.stdout.count("general/general@1") >= 1
    reg = Registry(home)
    assert [m.ref for m in reg.module_versions()] == ["general/general@1"]  # rank 0 alone registers
    assert reg.module_version("general@production").version == 1
    reg.close()


def test_ddp_with_one_rank_is_the_single_process_step(tmp_path, tiny_backbone, monkeypatch):
    """The DDP path changes no arithmetic: one rank under DistributedDataParallel ends where plain training ends."""
    import torch
    import torch.distributed as dist

    from ddr.modules import DDREncoder, PrefixModule
    from ddr.trainer.config import GeneralTrainConfig
    from ddr.trainer.general import Triple, train_general

    triples = [Triple(f"w{i} w{i + 1}", f"w{i} w{i + 1} w{i + 2}", f"w{i + 9} w{i + 10}") for i in range(12)]
    cfg = GeneralTrainConfig(prefix_length=4, batch_size=4, max_steps=3, lr=5e-2)

    def run(ddp: bool):
        module = PrefixModule.create(tiny_backbone, "general", "general", 4, seed=0)
        enc = DDREncoder(tiny_backbone, module)
        return train_general(enc, module, triples, cfg, ddp=ddp)

    plain = run(False)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        ddp = run(True)
    finally:
        dist.destroy_process_group()
    assert ddp.steps == plain.steps == 3
    assert ddp.losses == pytest.approx(plain.losses, abs=1e-6)
    for a, b in zip(plain.module.state_dict().values(), ddp.module.state_dict().values()):
        torch.testing.assert_close(a, b)
