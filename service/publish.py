"""Publishing modules and routers from memory into the registry (save to a temp folder, register)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ddr.registry import ModuleSpec, ModuleVersion, Registry, RouterSpec, RouterVersion


def module_spec(module, **facts: Any) -> ModuleSpec:
    """The registry's description of a :class:`~ddr.modules.PrefixModule`; ``facts`` fill the rest."""
    return ModuleSpec(module.kind, module.name, module.config.to_dict(), module.config.backbone, **facts)


def router_spec(
    router, domains: Sequence[tuple[str, int | None]], general_version: int | None, metrics: dict[str, Any] | None = None, backbone_source: str = ""
) -> RouterSpec:
    """The registry's description of a :class:`~ddr.modules.Router` over exactly these member versions."""
    names = [n for n, _ in domains]
    if names != list(router.domains):
        raise ValueError(f"router domains {router.domains} differ from the versions given {names}")
    return RouterSpec(router.config.to_dict(), router.config.backbone, tuple(domains), general_version, metrics or {}, backbone_source)


def publish_module(reg: Registry, module, **facts: Any) -> ModuleVersion:
    """Register a module as the next version of its kind/name (``facts``: parent, metrics, ...)."""
    with tempfile.TemporaryDirectory(prefix="ddr-publish-") as tmp:
        return reg.register(module_spec(module, **facts), module.save(Path(tmp) / "module"))


def publish_router(
    reg: Registry, router, domains: Sequence[tuple[str, int]], general_version: int | None, metrics: dict[str, Any] | None = None,
    backbone_source: str = "",
) -> RouterVersion:
    """Register a router over exactly these domain-module versions."""
    spec = router_spec(router, domains, general_version, metrics, backbone_source)
    with tempfile.TemporaryDirectory(prefix="ddr-publish-") as tmp:
        folder = router.save(Path(tmp) / "router")
        return reg.register_router(folder, spec.config, spec.backbone, spec.domains, spec.general_version, spec.metrics, backbone_source)


def publish_domain_and_router(
    reg: Registry, module, router, *, domains: Sequence[tuple[str, int | None]], general_version: int | None,
    router_metrics: dict[str, Any] | None = None, extra_files: dict[str, bytes] | None = None, **facts: Any,
) -> tuple[ModuleVersion, RouterVersion]:
    """A new domain-module version and a router over it, in one transaction: both or neither.

    The new module's entry in ``domains`` carries version None (it is allocated with the module);
    ``extra_files`` (name -> bytes) are stored with the module's weights and config.
    """
    with tempfile.TemporaryDirectory(prefix="ddr-publish-") as tmp:
        module_folder = module.save(Path(tmp) / "module")
        for name, content in (extra_files or {}).items():
            (module_folder / name).write_bytes(content)
        spec = router_spec(router, domains, general_version, router_metrics, facts.get("backbone_source", ""))
        return reg.register_domain_and_router(module_spec(module, **facts), module_folder, spec, router.save(Path(tmp) / "router"))
