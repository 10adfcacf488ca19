"""A real ``ddr-registry serve`` process on a free port, driven with a real HTTP client (httpx)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import httpx

TOKEN = "s3cret-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``with Server(home, ...) as srv: srv.post("/search", {...})``; stderr is kept for assertions."""

    def __init__(self, home: Path, *args: str, token: str | None = TOKEN, poll: float = 0.3) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        extra = ["--token", token] if token else []
        self.argv = [sys.executable, "-m", "ddr", "--home", str(home), "serve", "--port", str(self.port), "--poll-interval", str(poll), *extra, *args]
        self.log = home.parent / f"serve-{self.port}.log"

    def __enter__(self) -> Self:
        # float32 unless the test says otherwise (module-scoped servers start before the per-test environment)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "DDR_DTYPE": os.environ.get("DDR_DTYPE", "float32")}
        self._sink = open(self.log, "w")
        self.proc = subprocess.Popen(self.argv, stdout=self._sink, stderr=subprocess.STDOUT, env=env)
        self.client = httpx.Client(base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {self.token}"} if self.token else {})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if self.client.get("/healthz").status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not answer within 120 s: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._sink.close()

    def post(self, path: str, body=None, **kw) -> httpx.Response:
        return self.client.post(path, json=body, **kw)

    def get(self, path: str, **kw) -> httpx.Response:
        return self.client.get(path, **kw)

    def wait_for(self, probe, timeout: float = 60.0, every: float = 0.1):
        """Poll ``probe()`` until it returns something truthy; that value, or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(every)
        return None
