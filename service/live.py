"""What is live: the production router, its general and domain versions, loaded as an encoder.

Resolution: ``router@production`` names the general version and the ordered domain versions; with
no production router, ``general@production`` (if set) is the general prefix and no domain is
routed; with neither, the general prefix is the identity (the plain backbone).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ddr.errors import UsageError
from ddr.registry import ModuleVersion, NotFoundError, Ref, Registry, RouterVersion
from ddr.registry.layout import DOMAIN_DATA_FILES

from .cache import IDENTITY, files_key

if TYPE_CHECKING:  # torch stays off the CLI's start-up path
    from ddr.modules import Backbone, DDREncoder, PrefixModule, Router

    Loaded = TypeVar("Loaded", PrefixModule, Router)


@dataclass(frozen=True)
class ActiveState:
    """Versions that are live, without loading anything heavy."""

    router: RouterVersion | None
    general: ModuleVersion | None
    domains: tuple[ModuleVersion, ...] = field(default=())
    backbone_source: str = ""  # where this machine loaded the live modules' backbone from (local only)

    @property
    def general_version(self) -> int | None:
        return self.general.version if self.general else None

    @property
    def general_key(self) -> str:
        """Identity of the passage side: what a passage index or embedding cache depends on."""
        return files_key(self.general.files) if self.general is not None else IDENTITY

    @property
    def backbone_name(self) -> str | None:
        """What to load the backbone from: the local folder this registry recorded, else the modules' own name."""
        if self.backbone_source and Path(self.backbone_source).is_dir():
            return self.backbone_source
        first = self.general or (self.domains[0] if self.domains else None)
        return first.config.get("backbone", {}).get("name") if first else None

    def describe(self) -> str:
        if self.general is None and not self.domains:
            return "plain backbone (no modules registered)"
        doms = ", ".join(f"{d.name}@{d.version}" for d in self.domains) or "no domains"
        router = f"router@{self.router.version}" if self.router else "no router"
        return f"general@{self.general_version or 'identity'}, {doms}, {router}"


def resolve(reg: Registry) -> ActiveState:
    """The live versions, as the production aliases name them now."""
    try:
        router = reg.router_version("router@production")
    except NotFoundError:
        router = None
    if router is not None:
        general = reg.module_version(Ref("general", "general", version=router.general_version)) if router.general_version else None
        domains = tuple(reg.module_version(Ref("domain", n, version=v)) for n, v in router.domains)
        return ActiveState(router, general, domains, _source(reg, router.backbone_sha256))
    try:
        general = reg.module_version("general@production")
    except NotFoundError:
        general = None
    return ActiveState(None, general, (), _source(reg, general.backbone_sha256) if general else "")


def pinned(reg: Registry, version: int) -> ActiveState:
    """The versions one router version names (its general and domain versions), whatever production is."""
    router = reg.router_version(f"router@{int(version)}")
    general = reg.module_version(Ref("general", "general", version=router.general_version)) if router.general_version else None
    domains = tuple(reg.module_version(Ref("domain", n, version=v)) for n, v in router.domains)
    return ActiveState(router, general, domains, _source(reg, router.backbone_sha256))


def _source(reg: Registry, weights_sha256: str) -> str:
    return next((b.source for b in reg.backbones() if b.weights_sha256 == weights_sha256), "")


def load_encoder(
    reg: Registry, state: ActiveState, *, backbone: str | None = None, dtype: str | None = None, with_domains: bool = True,
    reuse: Backbone | None = None,
) -> DDREncoder:
    """The live encoder: backbone + general + (optionally) domain modules and router, verified, on the
    device ``DDR_DEVICE`` names (else the CPU) computing in ``dtype`` (auto: bf16 where the hardware has bf16 units).

    ``reuse``: an already loaded backbone, taken when every live version was trained on its weights.
    Only the files a module loads from are read: a domain version's replay set and gate data are read
    by :mod:`.domain_data`, by the commands that need them."""
    from ddr.modules import DEFAULT_BACKBONE, DDREncoder, EncoderConfig, PrefixModule, Router, load_backbone
    from ddr.modules.precision import pick_device, resolve_dtype

    device = pick_device()
    dtype, _ = resolve_dtype(dtype, device)

    wanted = {e.backbone_sha256 for e in (state.router, state.general, *state.domains) if e is not None}
    if reuse is not None and wanted <= {reuse.spec.weights_sha256} and not backbone:
        loaded_backbone = reuse  # frozen and shared: the serving process swaps modules, not the backbone
    else:
        loaded_backbone = load_backbone(backbone or state.backbone_name or DEFAULT_BACKBONE)
    with tempfile.TemporaryDirectory(prefix="ddr-load-") as tmp:
        def fetch(entity: ModuleVersion | RouterVersion, cls: type[Loaded]) -> Loaded:
            return _load_checked(reg, entity, cls, loaded_backbone, Path(tmp))

        general = fetch(state.general, PrefixModule) if state.general else None
        domains = [fetch(d, PrefixModule) for d in state.domains] if with_domains else []
        router = fetch(state.router, Router) if (with_domains and state.router and state.domains) else None
    encoder = DDREncoder(loaded_backbone, general, domains, router, EncoderConfig(dtype=dtype))
    return encoder if device == "cpu" else encoder.to(device)


def _load_checked(reg: Registry, entity: ModuleVersion | RouterVersion, cls: type[Loaded], backbone: Backbone, tmp: Path) -> Loaded:
    """Materialise a version's verified weights and config and load them strictly onto ``backbone``."""
    from ddr.modules.errors import ArtifactError, ShapeMismatchError

    files = [f for f in entity.files if f.name not in DOMAIN_DATA_FILES]
    folder = reg.blobs.materialize(files, tmp / entity.ref.replace("/", "_"), entity.ref)
    try:  # loading first: a module of another shape fails naming the dimension that differs
        loaded = cls.load(folder, backbone.spec)
    except (ArtifactError, ShapeMismatchError) as exc:
        raise type(exc)(f"{entity.ref}: {exc}") from None
    if entity.backbone_sha256 != backbone.spec.weights_sha256:
        raise UsageError(
            f"{entity.ref} was trained on another backbone (weights {entity.backbone_sha256[:12]}…) than "
            f"{backbone.spec.name} ({backbone.spec.weights_sha256[:12]}…); pass --backbone"
        )
    return loaded
