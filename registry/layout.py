"""The closed set of files a version holds (the Hub manifest allows nothing else).

Every version has its weights and config (:mod:`ddr.modules.io` writes them under these names). A
domain version may also carry its replay set and gate data (see :mod:`ddr.service.domain_data`):
what later gates need, and the only files that hold training queries, so a Hub push leaves them
out unless asked (``--with-gate-data``). Identity across registries is the core files' content.
"""

from __future__ import annotations

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CORE_FILES = (WEIGHTS_FILE, CONFIG_FILE)
REPLAY_FILE = "replay.json"
GATE_FILE = "gate.json"
GATE_TENSORS = "gate.safetensors"
DOMAIN_DATA_FILES = (REPLAY_FILE, GATE_FILE, GATE_TENSORS)
FILES = {"general": CORE_FILES, "domain": CORE_FILES + DOMAIN_DATA_FILES, "router": CORE_FILES}
