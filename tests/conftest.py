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

    from small_run import SMALL

    from lion.config import load_config
    from lion.loop import run_loop

    out = tmp_path_factory.mktemp("small") / "run"
    run_loop(load_config(Path(__file__).parents[1] / "configs" / "arena.yaml", SMALL), out, lambda m: None)
    return out
