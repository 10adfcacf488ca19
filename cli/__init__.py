"""``ddr-registry``: thin click commands over the library (entry point :func:`ddr.cli.app.main`).

:mod:`.app` holds the group, the context object and the error mapping, and registers the command
modules (``cmd_*``) with ``add_command``; no command module imports the app back. Heavy imports
(torch, transformers, faiss) happen inside command bodies, so ``--help`` and ``list`` stay fast.
"""
