"""The synthetic DDR encoders the speed benchmarks time: a general prefix and domain prefixes with opened gates and
random values, and a router with random weights (parts of ``encoder_throughput`` and ``query_latency``)."""

from __future__ import annotations

import torch


def build_encoders(backbone, prefix_length: int, n_domains: int = 3, router_input: str = "tokens"):
    from ddr.modules import DDREncoder, PrefixModule, Router, RouterConfig

    def opened(module, seed):
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            module.gates.copy_(torch.rand(module.gates.shape, generator=gen))
            if module.kind == "domain":
                module.keys.copy_(0.1 * torch.randn(module.keys.shape, generator=gen))
                module.values.copy_(0.1 * torch.randn(module.values.shape, generator=gen))
        return module

    general = opened(PrefixModule.create(backbone, "general", "general", prefix_length), 1)
    domains = [opened(PrefixModule.create(backbone, "domain", f"d{i}", prefix_length), 10 + i) for i in range(n_domains)]
    router = Router(
        RouterConfig(
            domains=[d.name for d in domains], input=router_input, input_dim=backbone.spec.hidden_size, backbone=dict(backbone.spec.__dict__)
        )
    )
    with torch.no_grad():
        router.weight.normal_(generator=torch.Generator().manual_seed(3))
    return DDREncoder(backbone, general, domains, router)
