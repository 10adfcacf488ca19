"""The imports a module makes, read with ``ast`` (relative imports resolved), for the layout tests."""

from __future__ import annotations

import ast
from collections.abc import Container
from pathlib import Path


def imports_of(name: str, path: Path, known: Container[str], *, module_level: bool = False) -> set[str]:
    """Module names ``name`` (at ``path``) imports: at module level only (what runs at import time), or
    anywhere in it. ``from pkg import a, b`` counts as ``pkg.a``, ``pkg.b`` where those are ``known``
    modules, and as ``pkg`` too unless every name is one."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
            out |= subs if len(subs) == len(node.names) else {base} | subs
    return out
