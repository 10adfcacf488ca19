"""Errors of the Hub sync; each is a :class:`~ddr.errors.DdrError`, so the CLI prints one line."""

from __future__ import annotations

from ddr.errors import DdrError


class HubError(DdrError, OSError):
    """Talking to the Hub failed (unreachable, not authorised, unexpected answer)."""


class ManifestError(DdrError, ValueError):
    """A repository's manifest.json is malformed or asks for something a pull refuses."""


class ContentError(DdrError, ValueError):
    """A downloaded file is not something a ddr artifact may be (unknown config keys, foreign tensors)."""
