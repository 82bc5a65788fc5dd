"""Small HTTP servers of a test's own on localhost, and the endpoint check run on one role.

For server behaviours the arena does not have (a model loaded on demand, FastAPI-style error
bodies, a slow first load), a test writes a starlette app and serves it here, in a thread of
the test's process, on a free port of 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from lion.core.config import RoleConfig
from lion.llm.backends.openai_compat import OpenAIChatModel


@contextmanager
def serve_app(app: Starlette) -> Iterator[str]:
    """The app's API root (`http://127.0.0.1:PORT/v1`) until the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class Clock:
    """A server's clock that only the test moves (`now`), for batches that take hours."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    """A port nothing listens on (for a connection that must be refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_role(role: str, url: str | None, model: str, **fields) -> None:
    """Run an OpenAI-compatible role's pre-flight check, as `lion run` does before a run."""
    rc = RoleConfig(backend="openai", model=model, base_url=url, **fields)
    loop = asyncio.new_event_loop()
    try:
        m = OpenAIChatModel(role, rc)
        try:
            loop.run_until_complete(m.check())
        finally:
            loop.run_until_complete(m.aclose())
    finally:
        loop.close()
