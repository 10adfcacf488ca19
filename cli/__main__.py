"""``python -m ddr.cli``."""

from ddr.cli.app import main

main(prog_name="ddr-registry")
