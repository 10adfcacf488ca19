"""ddr's benchmarks, run from the repository root as ``python -m benchmarks.<family>.<name>``.

Families: ``quality`` (the continual stream and what it is measured against), ``sweeps`` (the
measurements behind the defaults), ``performance`` (speed, latency, serving and scale) and
``report`` (renderers of ``benchmarks/results/*.json``). Shared helpers are in ``benchmarks.common``;
``benchmarks/README.md`` lists every entry point.
"""
