"""Tests run offline, quietly and on one torch thread (two threads on two busy cores crawl)."""

import os

os.environ.setdefault("LION_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

torch.set_num_threads(1)


import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--full-reliability", action="store_true",
                     help="run the kill-and-resume and fault tests in full (minutes) instead of their CI form")


@pytest.fixture(scope="session")
def full_reliability(request) -> bool:
    return request.config.getoption("--full-reliability")


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """One finished small arena run, shared by the tests that only read a run folder."""
    from pathlib import Path

    from lion.core.config import load_config
    from lion.loop.runner import run_loop
    from small_run import SMALL

    out = tmp_path_factory.mktemp("small") / "run"
    run_loop(load_config(Path(__file__).parents[1] / "configs" / "arena.yaml", SMALL), out, lambda m: None)
    return out


@pytest.fixture
def make_ctx(tmp_path):
    """A stage context on the arena roles, in a fresh run folder."""
    from lion.core.config import load_config
    from lion.llm.cache import ResponseCache
    from lion.llm.roles import Roles
    from lion.loop.context import Context
    from lion.loop.run_folder import RunFolder

    made: list[Context] = []

    def make(*overrides: str, folder: str = "run") -> Context:
        cfg = load_config(None, ["threads=1", *overrides])
        run = RunFolder(tmp_path / folder)
        run.root.mkdir(exist_ok=True)
        cache = ResponseCache(run.cache_path)
        made.append(Context(cfg, run, cache, Roles.from_config(cfg, cache), say=lambda m: None))
        return made[-1]

    yield make
    for ctx in made:  # the roles' event loop too: one left to the garbage collector warns at a random moment
        ctx.roles.close()
        ctx.cache.close()
