"""Options several commands share, declared once."""

from __future__ import annotations

import click

json_output = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
backbone = click.option("--backbone", default=None, help="Backbone path or hub id (default: the one the live modules were trained on).")
quiet = click.option("--quiet", is_flag=True, help="No progress bars or training log.")
reason = click.option("--reason", default="", help="Why, for the audit log.")
force = click.option("--force", is_flag=True, help="Activate even if the gate refuses.")
