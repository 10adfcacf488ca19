"""The one base class of every error ddr raises on purpose.

The CLI turns a :class:`DdrError` into a one-line message and exit code 1; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class DdrError(Exception):
    """Base class for user-facing errors: the message says what went wrong and what to do."""


class UsageError(DdrError, ValueError):
    """The caller asked for something inconsistent (bad option combination, bad value)."""


class DataError(DdrError, ValueError):
    """Input data is missing or malformed; the message names the file and line."""
