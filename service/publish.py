"""Publishing modules and routers from memory into the registry (save to a temp folder, register)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddr.registry import ModuleSpec, ModuleVersion, Registry, RouterSpec, RouterVersion

if TYPE_CHECKING:  # torch stays off the CLI's start-up path
    from ddr.modules import PrefixModule, Router


def module_spec(module: PrefixModule, **facts: Any) -> ModuleSpec:
    """The registry's description of a :class:`~ddr.modules.PrefixModule`; ``facts`` fill the rest."""
    return ModuleSpec(module.kind, module.name, module.config.to_dict(), module.config.backbone, **facts)


def router_spec(
    router: Router, domains: Sequence[tuple[str, int | None]], general_version: int | None, metrics: dict[str, Any] | None = None,
    backbone_source: str = "",
) -> RouterSpec:
    """The registry's description of a :class:`~ddr.modules.Router` over exactly these member versions."""
    names = [n for n, _ in domains]
    if names != list(router.domains):
        raise ValueError(f"router domains {router.domains} differ from the versions given {names}")
    return RouterSpec(router.config.to_dict(), router.config.backbone, tuple(domains), general_version, metrics or {}, backbone_source)


def publish_module(reg: Registry, module: PrefixModule, **facts: Any) -> ModuleVersion:
    """Register a module as the next version of its kind/name (``facts``: parent, metrics, ...)."""
    with tempfile.TemporaryDirectory(prefix="ddr-publish-") as tmp:
        return reg.register(module_spec(module, **facts), module.save(Path(tmp) / "module"))


def publish_router(
    reg: Registry, router: Router, domains: Sequence[tuple[str, int]], general_version: int | None, metrics: dict[str, Any] | None = None,
    backbone_source: str = "",
) -> RouterVersion:
    """Register a router over exactly these domain-module versions."""
    spec = router_spec(router, domains, general_version, metrics, backbone_source)
    with tempfile.TemporaryDirectory(prefix="ddr-publish-") as tmp:
        return reg.register_router(spec, router.save(Path(tmp) / "router"))


def publish_domain_and_router(
    reg: Registry, module: PrefixModule, router: Router, spec: RouterSpec, *, extra_files: dict[str, bytes] | None = None, **facts: Any,
) -> tuple[ModuleVersion, RouterVersion]:
    """A new domain-module version and a router over it (``spec``, from :func:`router_spec`), in one
    transaction: both or neither.

    The new module's entry in ``spec.domains`` carries version None (it is allocated with the module);
    ``extra_files`` (name -> bytes) are stored with the module's weights and config; ``facts``: the
    module's other :class:`~ddr.registry.ModuleSpec` fields.
    """
    with tempfile.TemporaryDirectory(prefix="ddr-publish-") as tmp:
        module_folder = module.save(Path(tmp) / "module")
        for name, content in (extra_files or {}).items():
            (module_folder / name).write_bytes(content)
        return reg.register_domain_and_router(module_spec(module, **facts), module_folder, spec, router.save(Path(tmp) / "router"))
