"""Errors raised by the modelling layer.

Every error a user can meet derives from :class:`ddr.errors.DdrError` and also from the builtin
a caller would naturally catch, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from ddr.errors import DdrError


class ShapeMismatchError(DdrError, ValueError):
    """A saved module or router does not fit the backbone or the registered domains."""


class ArtifactError(DdrError, ValueError):
    """A saved artifact is unreadable, incomplete or holds invalid numbers."""


class RoutingError(DdrError, ValueError):
    """A route names an unknown domain, or a router is needed but missing."""
