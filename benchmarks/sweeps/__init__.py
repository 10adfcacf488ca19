"""Decision sweeps: the measurements behind the defaults (the domain recipe, the trainer, routing, the gate rule)."""
