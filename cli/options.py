"""Options several commands share, declared once."""

from __future__ import annotations

import click

from ddr.modules.config import DTYPE_CHOICES

json_output = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
backbone = click.option("--backbone", default=None, help="Backbone path or hub id (default: the one the live modules were trained on).")
quiet = click.option("--quiet", is_flag=True, help="No progress bars or training log.")
reason = click.option("--reason", default="", help="Why, for the audit log.")
force = click.option("--force", is_flag=True, help="Activate even if the gate refuses.")
dtype = click.option(
    "--dtype", type=click.Choice(DTYPE_CHOICES), default="auto", envvar="DDR_DTYPE", show_default=True,
    help="Encoding precision (env DDR_DTYPE). auto: bfloat16 where the CPU has bf16 units (AVX512-BF16 or AMX) or on a "
         "GPU with bf16, float32 elsewhere. Passages are cached per dtype; training runs in float32.",
)


def encoding_dtype(name: str) -> str:
    """``--dtype`` resolved for this machine. The progress bars and every encoding command's result name it."""
    from ddr.modules.precision import pick_device, resolve_dtype

    return resolve_dtype(name, pick_device())[0]


def config_options(cls: type):
    """Decorator: one option per field of the config dataclass ``cls`` that is marked with
    :func:`ddr.trainer.config.option` (flag, type, bounds, default and help from the field), in field order."""
    from ddr.trainer.config import options_of

    def decorate(f):
        for fld in reversed(options_of(cls)):
            meta = fld.metadata["option"]
            kind = {"int": int, "float": float, "str": str}[fld.type if isinstance(fld.type, str) else fld.type.__name__]
            if meta.get("choices"):
                kind = click.Choice(meta["choices"])
            elif meta["low"] is not None or meta["high"] is not None:
                kind = (click.IntRange if kind is int else click.FloatRange)(meta["low"], meta["high"])
            flag = meta["flag"] or "--" + fld.name.replace("_", "-")
            f = click.option(flag, fld.name, type=kind, default=fld.default, show_default=True, help=meta["help"])(f)
        return f

    return decorate


def config_from(cls: type, kw: dict):
    """An instance of ``cls`` from the options :func:`config_options` declared (popped from ``kw``)."""
    from ddr.trainer.config import options_of

    return cls(**{f.name: kw.pop(f.name) for f in options_of(cls)})
