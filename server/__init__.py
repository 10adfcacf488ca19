"""The HTTP layer of ``ddr-registry serve``: FastAPI on uvicorn over one :class:`ddr.service.system.System`.

``app.py`` (the FastAPI app, its endpoints and ``create_app``), ``handlers.py`` (the ``Service`` the
endpoints share), ``parsing.py`` (request models, limits, ``BadRequest``), ``batcher.py``
(micro-batching) and ``telemetry.py`` (Prometheus metrics). The library is reached only through
``System`` (``ddr.service.system``; tested in tests/test_layout.py). Importing this package imports nothing.
"""
