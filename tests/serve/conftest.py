"""Fixtures for the tests against a real `transformers serve`: a tiny model folder built here,
the server started on it (one per session), the arena's server for the referee and the judge,
and a counting proxy in front of `transformers serve`."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from hf_serve import CountingProxy, build_tiny_model, start_transformers_serve

from arena_server import arena_server

CONFIGS = Path(__file__).parents[2] / "configs"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny chat model, and a copy of it under another path that no test loads before
    the endpoint check that needs a folder the server has not loaded yet."""
    from lion.arena import seed_set
    from lion.core.prompts import render

    root = tmp_path_factory.mktemp("models")
    prompts = [render("teacher", instruction=i, input=x) for i, x in seed_set(80, 7)]
    tiny = build_tiny_model(root / "tiny", prompts)
    shutil.copytree(tiny, root / "tiny-copy")
    return tiny, root / "tiny-copy"


@pytest.fixture(scope="session")
def tiny_model(tiny_models) -> Path:
    return tiny_models[0]


@pytest.fixture(scope="session")
def hf_server(tmp_path_factory):
    """`transformers serve` on a free local port, with a Hugging Face home of its own."""
    root = tmp_path_factory.mktemp("transformers-serve")
    server = start_transformers_serve(root / "serve.log", root / "hf-home")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def loaded(hf_server, tiny_model):
    """The server with the tiny model in memory, so it lists it; the first load is timed."""
    if str(tiny_model) not in hf_server.listed():
        start = time.monotonic()
        hf_server.post("/v1/chat/completions", {"model": str(tiny_model), "max_tokens": 1,
                                                "messages": [{"role": "user", "content": "Say OK."}]})
        hf_server.first_load_s = hf_server.first_load_s or time.monotonic() - start
    assert str(tiny_model) in hf_server.listed()
    return hf_server


@pytest.fixture(scope="session")
def arena():
    """The arena served over HTTP with the demo's options: it plays referee and judge."""
    with arena_server("--config", str(CONFIGS / "arena.yaml")) as server:
        yield server


@pytest.fixture
def proxy(hf_server):
    """A counting proxy in front of `transformers serve`: point a role's base_url at `proxy.url`."""
    counting = CountingProxy(hf_server.root).start()
    try:
        yield counting
    finally:
        counting.stop()
