"""``python -m ddr``: the ``ddr-registry`` command line."""

from __future__ import annotations

from ddr.cli.app import main

if __name__ == "__main__":
    main(prog_name="ddr-registry")
