"""ddr: dynamic dense retrieval with routed prefix modules over a frozen backbone."""

from __future__ import annotations

__version__ = "0.1.0"
