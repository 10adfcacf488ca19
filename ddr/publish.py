"""Publishing modules and routers from memory into the registry (save to a temp folder, register)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ddr.registry import ModuleVersion, Registry, RouterVersion


def publish_module(
    reg: Registry,
    module,
    data_fingerprint: str = "",
    metrics: dict[str, Any] | None = None,
    description: str | None = None,
    parent: int | None = None,
) -> ModuleVersion:
    """Register a :class:`~ddr.modules.PrefixModule` as the next version of its kind/name."""
    with tempfile.TemporaryDirectory(prefix="ddr-publish-") as tmp:
        folder = module.save(Path(tmp) / "module")
        return reg.register_module(
            module.kind,
            module.name,
            folder,
            module.config.to_dict(),
            module.config.backbone,
            parent=parent,
            data_fingerprint=data_fingerprint,
            metrics=metrics,
            description=description,
        )


def publish_router(
    reg: Registry,
    router,
    domains: Sequence[tuple[str, int]],
    general_version: int | None,
    metrics: dict[str, Any] | None = None,
) -> RouterVersion:
    """Register a :class:`~ddr.modules.Router` over exactly these domain-module versions."""
    names = [n for n, _ in domains]
    if names != list(router.domains):
        raise ValueError(f"router domains {router.domains} differ from the versions given {names}")
    with tempfile.TemporaryDirectory(prefix="ddr-publish-") as tmp:
        folder = router.save(Path(tmp) / "router")
        return reg.register_router(folder, router.config.to_dict(), router.config.backbone, domains, general_version, metrics)
