"""Renderers of ``benchmarks/results/*.json``: ``docs`` writes ``docs/benchmarks.md`` from every results file
(sections in ``continual``, ``routing``, ``quality``, ``performance`` and ``scale``, formatting in ``format``);
``continual`` also writes the current continual run's own Markdown and plots. One renderer per results schema;
superseded schemas are frozen as Markdown in ``benchmarks/results/frozen/``."""
