"""No unsafe deserialisation or code execution in the shipped packages, checked on the syntax tree.

Every ``.py`` under the package folders is parsed with :mod:`ast` (not grepped), import aliases are
resolved (``import numpy as np``, ``from torch import load``), and these are refused:

- importing ``pickle`` / ``cPickle`` / ``_pickle`` / ``cloudpickle`` / ``dill`` / ``joblib`` / ``shelve`` / ``marshal``;
- ``torch.load`` without ``weights_only=True``; ``numpy.load`` with ``allow_pickle`` other than False;
  ``pandas.read_pickle``;
- the builtins ``eval`` / ``exec`` / ``compile`` / ``__import__``;
- ``importlib.import_module`` and ``getattr(<a module>, <not a constant>)`` (config strings choosing code);
- ``yaml.load`` without a safe loader, ``yaml.unsafe_load``;
- ``subprocess.*`` with ``shell=`` anything but False, ``os.system``, ``os.popen``;
- ``trust_remote_code=`` anything but False (transformers would run the model repo's code).

The self-test feeds the scanner one snippet per rule, so the scan can fail.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Every folder the wheel installs (pyproject's package-dir), so a new room is scanned without being listed here.
PACKAGES = tuple(sorted(set(re.findall(r'^"ddr(?:\.\w+)*" = "(\w+)', (ROOT / "pyproject.toml").read_text(), flags=re.MULTILINE))))

PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "joblib", "shelve", "marshal"}
CODE_BUILTINS = {"eval", "exec", "compile", "__import__"}
SUBPROCESS_CALLS = {"run", "call", "check_call", "check_output", "Popen"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}"


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_const(node: ast.expr | None, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


class Scanner(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.findings: list[Finding] = []
        self.aliases: dict[str, str] = {}  # local name -> what it refers to (dotted)
        self.modules: set[str] = set()  # local names bound to modules by ``import x``

    def flag(self, node: ast.AST, rule: str) -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 0), rule))

    # -- imports
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name.split(".")[0] in PICKLE_MODULES:
                self.flag(node, f"imports {a.name}")
            local = a.asname or a.name.split(".")[0]
            self.aliases[local] = a.name if a.asname else a.name.split(".")[0]
            self.modules.add(local)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        if mod.split(".")[0] in PICKLE_MODULES:
            self.flag(node, f"imports from {mod}")
        for a in node.names:
            self.aliases[a.asname or a.name] = f"{mod}.{a.name}" if mod else a.name

    def resolve(self, node: ast.AST) -> str | None:
        name = _dotted(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        full = self.aliases.get(head, head)
        return f"{full}.{rest}" if rest else full

    # -- calls
    def visit_Call(self, node: ast.Call) -> None:
        name = self.resolve(node.func)
        if isinstance(node.func, ast.Name) and node.func.id in CODE_BUILTINS and node.func.id not in self.aliases:
            self.flag(node, f"calls builtin {node.func.id}()")
        if name in {f"builtins.{b}" for b in CODE_BUILTINS}:
            self.flag(node, f"calls {name}()")
        if name == "torch.load" and not _is_const(_kw(node, "weights_only"), True):
            self.flag(node, "torch.load without weights_only=True")
        if name in ("numpy.load",):
            allow = _kw(node, "allow_pickle")
            if allow is not None and not _is_const(allow, False):
                self.flag(node, "numpy.load with allow_pickle")
        if name == "pandas.read_pickle":
            self.flag(node, "pandas.read_pickle")
        if name in ("importlib.import_module", "importlib.__import__"):
            self.flag(node, f"{name}() (code chosen by a string)")
        if isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2:
            target, attr = node.args[0], node.args[1]
            on_module = (isinstance(target, ast.Name) and target.id in self.modules) or (
                isinstance(target, ast.Subscript) and self.resolve(target.value) == "sys.modules"
            ) or (isinstance(target, ast.Call) and self.resolve(target.func) == "importlib.import_module")
            if on_module and not isinstance(attr, ast.Constant):
                self.flag(node, "getattr(<module>, <non-constant>) (code chosen by a string)")
        if name in ("yaml.unsafe_load", "yaml.full_load", "yaml.load_all") or (
            name == "yaml.load" and (self.resolve(_kw(node, "Loader")) or "").split(".")[-1] not in SAFE_YAML_LOADERS
        ):
            self.flag(node, f"{name} without a safe loader")
        if name and name.startswith("subprocess.") and name.split(".")[-1] in SUBPROCESS_CALLS:
            shell = _kw(node, "shell")
            if shell is not None and not _is_const(shell, False):
                self.flag(node, f"{name} with shell=")
        if name in ("subprocess.getoutput", "subprocess.getstatusoutput", "os.system", "os.popen"):
            self.flag(node, f"{name}() (runs a shell)")
        trust = _kw(node, "trust_remote_code")
        if trust is not None and not _is_const(trust, False):
            self.flag(node, "trust_remote_code= (runs code from a model repository)")
        self.generic_visit(node)


def scan_source(source: str, path: str = "<snippet>") -> list[Finding]:
    scanner = Scanner(path)
    scanner.visit(ast.parse(source, filename=path))
    return scanner.findings


def package_files() -> list[Path]:
    files = []
    for pkg in PACKAGES:
        folder = ROOT / pkg
        if folder.is_dir():
            files += sorted(folder.rglob("*.py"))
    return files


def test_packages_have_no_unsafe_deserialisation():
    files = package_files()
    assert len(files) > 30 and any(f.parent.name == "registry" for f in files)
    findings = [f for path in files for f in scan_source(path.read_text(), str(path.relative_to(ROOT)))]
    assert findings == [], "\n".join(map(str, findings))


FORBIDDEN = {
    "import pickle": "imports pickle",
    "import cPickle": "imports cPickle",
    "import dill as d": "imports dill",
    "from joblib import load": "imports from joblib",
    "import cloudpickle": "imports cloudpickle",
    "import torch\ntorch.load('m.pt')": "torch.load without weights_only=True",
    "import torch\ntorch.load('m.pt', weights_only=False)": "torch.load without weights_only=True",
    "from torch import load\nload('m.pt')": "torch.load without weights_only=True",
    "import torch as t\nt.load(path, map_location='cpu')": "torch.load without weights_only=True",
    "eval('1 + 1')": "calls builtin eval()",
    "exec(code)": "calls builtin exec()",
    "compile(src, 'f', 'exec')": "calls builtin compile()",
    "__import__(name)": "calls builtin __import__()",
    "import builtins\nbuiltins.eval(x)": "calls builtins.eval()",
    "import importlib\nimportlib.import_module(cfg['cls'])": "importlib.import_module() (code chosen by a string)",
    "from importlib import import_module\nimport_module(name)": "importlib.import_module() (code chosen by a string)",
    "import torch.nn as nn\nlayer = getattr(nn, config['layer'])": "getattr(<module>, <non-constant>) (code chosen by a string)",
    "import sys\nf = getattr(sys.modules[__name__], name)": "getattr(<module>, <non-constant>) (code chosen by a string)",
    "import yaml\nyaml.load(text)": "yaml.load without a safe loader",
    "import yaml\nyaml.load(text, Loader=yaml.Loader)": "yaml.load without a safe loader",
    "import yaml\nyaml.unsafe_load(text)": "yaml.unsafe_load without a safe loader",
    "import numpy as np\nnp.load(path, allow_pickle=True)": "numpy.load with allow_pickle",
    "import pandas as pd\npd.read_pickle(p)": "pandas.read_pickle",
    "import subprocess\nsubprocess.run(cmd, shell=True)": "subprocess.run with shell=",
    "from subprocess import Popen\nPopen(cmd, shell=True)": "subprocess.Popen with shell=",
    "import os\nos.system('ls')": "os.system() (runs a shell)",
    "import os\nos.popen('ls')": "os.popen() (runs a shell)",
    "from transformers import AutoModel\nAutoModel.from_pretrained(p, trust_remote_code=True)": "trust_remote_code= (runs code from a model repository)",
}


@pytest.mark.parametrize("snippet, rule", FORBIDDEN.items(), ids=list(FORBIDDEN.values()))
def test_scanner_flags_each_forbidden_pattern(snippet, rule):
    assert rule in [f.rule for f in scan_source(snippet)], snippet


SAFE = """
import re, subprocess, yaml, torch
import numpy as np
from safetensors.torch import load_file
torch.load("m.pt", weights_only=True)
np.load("x.npy", allow_pickle=False)
np.load("x.npy")
yaml.load(text, Loader=yaml.SafeLoader)
yaml.safe_load(text)
model.eval()
re.compile("x")
getattr(self, name)
getattr(torch, "float32")
subprocess.run(["ls"], check=True)
subprocess.run(["ls"], shell=False)
load_file("model.safetensors")
"""


def test_scanner_accepts_safe_patterns():
    assert scan_source(SAFE) == []


def test_every_installed_room_is_scanned():
    assert {"ddr", "cli", "service", "server", "modules", "registry", "trainer", "retrieval", "migrations", "hub"} <= set(PACKAGES)
