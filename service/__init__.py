"""The service layer: orchestration that touches both the registry and the torch side.

The CLI, the benchmarks and applications call these functions; each reads as its steps. What is
live (:mod:`.live`), the embedding-cache gateway (:mod:`.cache`), publishing (:mod:`.publish`), the
one gate (:mod:`.gate`), the domain and general phases (:mod:`.domain`, :mod:`.general`), indexes and
search (:mod:`.indexing`, :mod:`.search`), evaluation (:mod:`.evaluation`) and the live system as one
object (:mod:`.system`, the public Python API; the HTTP server, ``ddr.server``, reaches the library
only through it). Importing this package imports nothing heavy; torch loads inside the functions that need it.
"""
