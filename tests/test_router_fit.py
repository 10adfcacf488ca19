"""The router learns domains from labelled query representations and abstains on strangers."""

from __future__ import annotations

import torch

from ddr.trainer.router import fit_router


def clusters(n_per: int, dim: int, centers: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for i, c in enumerate(centers):
        xs.append(c + 0.3 * torch.randn(n_per, dim, generator=gen))
        ys.append(torch.full((n_per,), i))
    return torch.cat(xs), torch.cat(ys)


def test_router_learns_and_abstains():
    dim = 16
    gen = torch.Generator().manual_seed(0)
    shared = 5 * torch.randn(dim, generator=gen)  # a dominant common direction, as with token means
    centers = shared + torch.randn(4, dim, generator=gen)
    train_x, train_y = clusters(50, dim, centers[:3], seed=1)
    test_x, test_y = clusters(20, dim, centers[:3], seed=2)
    router = fit_router(train_x, train_y, ["a", "b", "c"], abstain_quantile=0.02)
    assert 0 < router.config.abstain_threshold < 1

    probs = router(test_x)
    assert (probs.argmax(-1) == test_y).float().mean() >= 0.95
    assert router.abstains(test_x).float().mean() <= 0.1

    # A stranger sitting between the known domains leaves the router unsure.
    stranger = centers[:3].mean(0) + 0.3 * torch.randn(20, dim, generator=torch.Generator().manual_seed(3))
    assert router.abstains(stranger).float().mean() >= 0.8
    assert (router(stranger)[router.abstains(stranger)] == 0).all()


def test_fit_is_deterministic():
    x, y = clusters(10, 8, torch.eye(8)[:2] * 3, seed=4)
    a = fit_router(x, y, ["a", "b"], seed=7)
    b = fit_router(x, y, ["a", "b"], seed=7)
    assert torch.equal(a.weight, b.weight) and a.config == b.config
