import pytest

from lion.config import load_config
from lion.llm.cache import ResponseCache
from lion.roles import Roles
from lion.run import RunFolder
from lion.stages.context import Context


@pytest.fixture
def make_ctx(tmp_path):
    """A stage context on the arena roles, in a fresh run folder."""
    caches = []

    def make(*overrides: str, folder: str = "run") -> Context:
        cfg = load_config(None, ["threads=1", *overrides])
        run = RunFolder(tmp_path / folder)
        run.root.mkdir(exist_ok=True)
        cache = ResponseCache(run.cache_path)
        caches.append(cache)
        return Context(cfg, run, cache, Roles.from_config(cfg, cache), say=lambda m: None)

    yield make
    for c in caches:
        c.close()
