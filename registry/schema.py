"""SQLAlchemy 2 models of the registry.

Rows are never handed out of a session: the store converts them to frozen entities. Constraint
names follow one convention (set before the first migration) so SQLite batch migrations can find
them. Migrations in ``ddr.migrations`` spell their tables out and never import this module.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC on every backend (SQLite stores naive timestamps)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime}  # noqa: RUF012 (SQLAlchemy reads it on the class)


class BackboneRow(Base):
    __tablename__ = "backbone"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    weights_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    num_layers: Mapped[int] = mapped_column(Integer)
    num_heads: Mapped[int] = mapped_column(Integer)
    head_dim: Mapped[int] = mapped_column(Integer)
    hidden_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The local folder this machine loaded it from (artifacts record only a portable name).
    source: Mapped[str] = mapped_column(Text, default="", server_default="")


class ModuleRow(Base):
    __tablename__ = "module"
    __table_args__ = (
        UniqueConstraint("kind", "name"),
        CheckConstraint("kind IN ('general', 'domain')", name="kind"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ModuleVersionRow(Base):
    __tablename__ = "module_version"
    __table_args__ = (UniqueConstraint("module_id", "version"), CheckConstraint("version >= 1", name="version"))
    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("module.id"))
    version: Mapped[int] = mapped_column(Integer)
    backbone_id: Mapped[int] = mapped_column(ForeignKey("backbone.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("module_version.id"), nullable=True)
    config: Mapped[str] = mapped_column(Text)
    data_fingerprint: Mapped[str] = mapped_column(String(200), default="")
    metrics: Mapped[str] = mapped_column(Text, default="{}")
    # Facts about how the version was made (not metrics): the local data folders it was trained
    # from (a JSON list), the domain's one-line instruction, and the training configuration (JSON).
    data_paths: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    instruction: Mapped[str] = mapped_column(Text, default="", server_default="")
    train_config: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))


class RouterVersionRow(Base):
    __tablename__ = "router_version"
    __table_args__ = (UniqueConstraint("version"), CheckConstraint("version >= 1", name="version"))
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    backbone_id: Mapped[int] = mapped_column(ForeignKey("backbone.id"))
    general_version_id: Mapped[int | None] = mapped_column(ForeignKey("module_version.id"), nullable=True)
    config: Mapped[str] = mapped_column(Text)
    metrics: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))


class RouterMemberRow(Base):
    """The ordered domain-module versions one router version routes over."""

    __tablename__ = "router_member"
    router_version_id: Mapped[int] = mapped_column(ForeignKey("router_version.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    module_version_id: Mapped[int] = mapped_column(ForeignKey("module_version.id"))


class IndexRecordRow(Base):
    __tablename__ = "index_record"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    general_version_id: Mapped[int | None] = mapped_column(ForeignKey("module_version.id"), nullable=True)
    backbone_id: Mapped[int] = mapped_column(ForeignKey("backbone.id"))
    corpus_fingerprint: Mapped[str] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))


class ArtifactFileRow(Base):
    """One file of a module version, router version or index, stored by content hash."""

    __tablename__ = "artifact_file"
    __table_args__ = (
        UniqueConstraint("owner_type", "owner_id", "name"),
        CheckConstraint("owner_type IN ('module_version', 'router_version', 'index_record')", name="owner_type"),
        CheckConstraint("size >= 0", name="size"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    store: Mapped[str] = mapped_column(String(500), default="local", server_default="local")  # "local" or s3://bucket/prefix


class SettingRow(Base):
    """A registry-wide setting every home reads (``artifacts``: where new files go)."""

    __tablename__ = "registry_setting"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class AliasRow(Base):
    """A movable name. ``scope`` is ``router`` or ``<kind>/<name>`` (``general/general``,
    ``domain/scifact``); each scope has its own names."""

    __tablename__ = "alias"
    __table_args__ = (UniqueConstraint("scope", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditRow(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(300), index=True)
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
