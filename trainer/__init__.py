"""Training loops for prefix modules and the router; uses ddr.modules, never the registry."""
