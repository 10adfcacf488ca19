"""Small formatting helpers shared by the ``benchmarks.report`` renderers of ``docs/benchmarks.md``.

Numbers, Markdown tables, machine names and the :class:`Doc` that collects the lines; no section text.
"""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]

def runnable(command: str) -> str:
    """A command as recorded in a results file, as it runs today: runs recorded before the benchmarks
    became a package say ``python benchmarks/NAME.py``, which is now ``python -m benchmarks.FAMILY.NAME``."""
    m = re.fullmatch(r"python benchmarks/(\w+)\.py(.*)", command, flags=re.DOTALL)
    if m is None:
        return command
    family = next((d.name for d in sorted(BENCHMARKS.iterdir()) if (d / f"{m.group(1)}.py").is_file() and d.name != "results"), None)
    return f"python -m benchmarks.{family}.{m.group(1)}{m.group(2)}" if family else command


# --- formatting -----------------------------------------------------------------------------------


def f(x, nd: int = 2) -> str:
    """Fixed-point; '–' for a missing value; never '-0.00'."""
    if x is None:
        return "–"
    s = f"{x:.{nd}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def sf(x, nd: int = 2) -> str:
    """Signed fixed-point (+1.23 / -1.23 / 0.00)."""
    if x is None:
        return "–"
    return f(x, nd) if float(f(x, nd)) == 0 else f"{x:+.{nd}f}"


def pct(frac, nd: int = 1) -> str:
    """A fraction 0..1 as a percentage."""
    return "–" if frac is None else f(100 * frac, nd)


def ratio(r: dict) -> str:
    """A median ratio with its spread over rounds."""
    return f"{f(r['median'], 3)}× [{f(r['min'], 3)}–{f(r['max'], 3)}]"


def table(header: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """A Markdown table; ``align`` has one letter per column, 'l' or 'r' (default: the first left, the rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    assert len(align) == len(header), (align, header)
    align = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


def minutes(seconds: float) -> str:
    return f"{f(seconds / 60, 1)} min"


# --- machines -------------------------------------------------------------------------------------


def machine_key(m: dict) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in m.items()))


def machine_names(data: dict[str, dict]) -> dict[tuple, str]:
    """One short name per distinct machine record, from torch's CPU capability ('the AVX2 machine')."""
    keys = sorted({machine_key(d["machine"]) for d in data.values() if "machine" in d})
    names, used = {}, {}
    for k in keys:
        cap = dict(k).get("cpu_model") or dict(k).get("cpu_capability", "unknown")
        used[cap] = used.get(cap, 0) + 1
        names[k] = f"the {cap} machine" + (f" #{used[cap]}" if used[cap] > 1 else "")
    return names


class Doc:
    """The document being rendered: the results (``data``, by file name), the machines' names, the lines so far."""

    def __init__(self, data: dict[str, dict]) -> None:
        self.data = data
        self.names = machine_names(data)
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def machine(self, file: str) -> str:
        d = self.data[file]
        if "machine" not in d:
            return "not recorded in the JSON"
        return self.names[machine_key(d["machine"])]

    def ran_on(self, file: str) -> str:
        m = self.data[file].get("machine")
        if m is None:
            return f"Machine: not recorded in `{file}`."
        extra = f", {m['cores']} cores, bf16 units: {'yes' if m['bf16_units'] else 'no'}" if "cores" in m else ""
        return (f"Measured on {self.machine(file)} (`{file}`: {m['processor']}, torch CPU capability {m['cpu_capability']}{extra}, "
                f"{m['threads']} threads, torch {m['torch']}, Python {m['python']}).")

