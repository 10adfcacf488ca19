"""What the CLI prints of text it did not write itself: control characters made visible.

Registry rows can come from a pulled manifest (``created_by``, ``description``) or from the
environment (``DDR_ACTOR``), and error messages can quote them. Printed raw, an ESC sequence would
clear the screen or recolour it, a newline or carriage return would forge a line, and a bidi
override would reorder what follows. :func:`clean` renders each such character as an escape
(``\\x1b``, ``\\n``, ``\\u202e``), so what is printed is exactly one visible line per field.
JSON output needs none of this: ``json.dumps`` escapes every control and non-ASCII character.
"""

from __future__ import annotations

import re

import click

# C0 controls (tab and newline included), DEL and the C1 range; the line and paragraph separators;
# the bidi marks, embeddings, overrides and isolates (U+061C, U+200E-F, U+202A-E, U+2066-9).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def clean(text: object) -> str:
    """``str(text)`` with every control, line-separator and bidi-control character shown as an escape."""
    return _UNSAFE.sub(_escape, str(text))


def echo(text: object = "", err: bool = False) -> None:
    """Print ``text`` cleaned: always exactly one line."""
    click.echo(clean(text), err=err)


def echo_lines(text: str, err: bool = False) -> None:
    """Print each line of ``text`` (a table the CLI built, lines joined by "\\n"), each cleaned.

    Split on "\\n" only: ``str.splitlines`` would also split on U+2028, U+0085 and others that a
    quoted name may hold, and so print the forged line this module exists to prevent.
    """
    for line in str(text).split("\n"):
        echo(line, err=err)
