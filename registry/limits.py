"""Bounds on what a version may hold, in one place, enforced the same way wherever a version enters
(registration, import, a pulled manifest) so that anything one registry holds, another accepts.

Torch- and SQLAlchemy-free.
"""

from __future__ import annotations

from typing import Any

from ddr.errors import UsageError

# Versions and file sizes are INTEGER columns: 32-bit signed on PostgreSQL.
MAX_VERSION = 2**31 - 1
MAX_FILE_SIZE = 2**31 - 1
MAX_TEXT = 10_000  # a description or instruction
MAX_ACTOR = 200  # created_by / the audit log's actor (String(200))
MAX_JSON_DEPTH = 32  # config, metrics, training config: plain records, never deep trees


def text_ok(value: object, limit: int = MAX_TEXT) -> bool:
    """At most ``limit`` characters of storable text: no NUL (PostgreSQL refuses it), no lone surrogate."""
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(value: str, what: str, limit: int = MAX_TEXT) -> str:
    if not text_ok(value, limit):
        raise UsageError(f"{what} must be text of at most {limit} characters, without NUL characters")
    return value


def check_version(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        raise UsageError(f"{what} must be a version from 1 to {MAX_VERSION}, got {value!r}")
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of a JSON-like value (iterative: a hostile depth cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


def check_json(value: Any, what: str) -> Any:
    if json_depth(value) > MAX_JSON_DEPTH:
        raise UsageError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
    return value
