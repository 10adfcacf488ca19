"""``serve``: the HTTP search service (FastAPI on uvicorn, imported inside the command only)."""

from __future__ import annotations

import ipaddress
import os

import click

from . import options
from .context import Ctx, pass_ctx
from .output import echo

TOKEN_ENV = "DDR_SERVE_TOKEN"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--index", "index_name", default=None, help="The index to search (default: the only one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; beyond loopback a token is required.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to bind.")
@click.option("--token", default=None, help=f"Bearer token every request but /healthz must carry (or set {TOKEN_ENV}).")
@click.option("--poll-interval", type=click.FloatRange(0.1, 3600), default=2.0, show_default=True,
              help="Seconds between checks of router@production (and of the index's newest version).")
@click.option("--router", "router_version", type=click.IntRange(1, 2147483647), default=None,
              help="Serve this router version and never follow production.")
@click.option("--max-batch", type=click.IntRange(1, 4096), default=32, show_default=True, help="Texts per encoder call at most (micro-batching).")
@click.option("--max-wait-ms", type=click.FloatRange(0, 1000), default=0.0, show_default=True,
              help="How long the first request of a batch waits for others.")
@options.dtype
@click.option("--no-hybrid", is_flag=True, help="Do not load the index's BM25 side (hybrid requests are then refused).")
@options.backbone
@pass_ctx
def serve(ctx: Ctx, index_name, host, port, token, poll_interval, router_version, max_batch, max_wait_ms, dtype, no_hybrid, backbone) -> None:
    """Serve search and encoding over HTTP, following router@production (POST /search, /encode; GET /healthz, /version, /metrics, /docs)."""
    from ddr.errors import UsageError

    token = token or os.environ.get(TOKEN_ENV) or None
    if not _loopback(host) and not token:
        raise UsageError(f"binding {host} beyond loopback needs a token: pass --token or set {TOKEN_ENV}")
    from concurrent.futures import ThreadPoolExecutor

    import uvicorn

    from ddr.server.app import create_app
    from ddr.service.indexing import pick_index
    from ddr.service.system import System

    reg = ctx.registry
    torch_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ddr-encoder")  # every torch and faiss call runs here
    system = System(reg, index=pick_index(reg, index_name).name, router=router_version, backbone=backbone, dtype=options.encoding_dtype(dtype),
                    hybrid=not no_hybrid, executor=torch_thread)
    app = create_app(system, token=token, poll=poll_interval, max_batch=max_batch, max_wait=max_wait_ms / 1000)
    v = system.versions()
    following = f"pinned to router@{router_version}" if router_version else f"following router@production every {poll_interval:g} s"
    echo(f"serving index {v['index']['name']}@{v['index']['version']} with router {v['router'] or 'none'} ({following}) "
         f"on http://{host}:{port} (docs at /docs), encoding in {v['dtype']}")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


COMMANDS = (serve,)
