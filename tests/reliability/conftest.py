import pytest
from kill_resume import CONFIGS, uninterrupted

from small_run import SMALL

ARENA = ["--config", str(CONFIGS / "arena.yaml")]


@pytest.fixture(scope="session")
def small(full_reliability) -> list[str]:
    """The CI form runs one iteration; --full-reliability the usual two."""
    return SMALL if full_reliability else [*SMALL, "loop.iterations=1"]


@pytest.fixture(scope="session")
def reference(tmp_path_factory, small):
    """One uninterrupted, fault-free run over HTTP, and the server's counters for it."""
    return uninterrupted(tmp_path_factory.mktemp("reference"), small, ARENA)
