"""Safetensors + JSON config on disk, loaded strictly.

A module is a folder with ``model.safetensors`` and ``config.json``. Loading checks the exact
tensor names, shapes and dtypes, and rejects NaN/Inf, so a truncated or foreign file fails with one
line instead of producing silently wrong embeddings. No pickle is involved anywhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import ArtifactError, ShapeMismatchError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def save_folder(folder: str | os.PathLike, tensors: dict[str, torch.Tensor], config: dict[str, Any]) -> Path:
    """Write tensors and config into ``folder`` (created); returns the folder."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(out / WEIGHTS_FILE))
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return out


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    path = Path(folder) / CONFIG_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing config file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object")
    return data


def load_tensors(
    folder: str | os.PathLike, expected: dict[str, tuple[int, ...]], what: str
) -> dict[str, torch.Tensor]:
    """Load exactly the ``expected`` tensors (name -> shape) as float32, or raise one clear line."""
    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        raise ArtifactError(f"{path}: missing weights file")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: unreadable safetensors file ({exc})") from None
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ArtifactError(f"{path}: {what} tensors do not match (missing {missing}, unexpected {extra})")
    out = {}
    for name, shape in expected.items():
        t = tensors[name]
        if tuple(t.shape) != tuple(shape):
            raise ShapeMismatchError(f"{path}: {what} tensor {name!r} has shape {tuple(t.shape)}, expected {tuple(shape)}")
        if not t.is_floating_point():
            raise ArtifactError(f"{path}: {what} tensor {name!r} has non-float dtype {t.dtype}")
        t = t.float()
        if not torch.isfinite(t).all():
            raise ArtifactError(f"{path}: {what} tensor {name!r} holds NaN or Inf")
        out[name] = t
    return out
