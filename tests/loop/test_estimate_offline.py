"""Loads by Hugging Face Hub name (seeds, models) where the Hub cannot be reached.

The Hub's clients retry an unreachable Hub for about 25 s a file, two warning lines a try.
These tests run `lion` in a fresh process without the suite's HF_HUB_OFFLINE, with the Hub's
address (HF_ENDPOINT) a closed port on this machine, so that the Hub refuses at once and no
test waits on a network, and with an empty Hugging Face cache (HF_HOME).
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from lion.core.config import DataConfig
from lion.core.hub import HubUnreachable
from lion.data.seeds import load_seeds
from lion.student.model import load_tokenizer
from local_server import serve_app
from run_cli import lion

CONFIGS = Path(__file__).parents[2] / "configs"
# The retry lines are the sure sign of waiting on the Hub; the time bound catches a wait that
# prints nothing. A command that imports torch takes ten seconds on a busy machine.
QUICK_S = 20  # under one file's retries (about 25 s)
QUICK_WITH_TORCH_S = 60  # a hub-named tokenizer took 2.5 minutes of retries, of several files


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unreachable(tmp_path, monkeypatch) -> dict[str, str]:
    """The environment of a machine whose Hub refuses connections, its cache empty."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return {"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}", "HF_HOME": str(tmp_path / "hf")}


def timed(*args: str, cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    r = lion(*args, cwd=cwd, env=env, timeout=120)
    return r, time.monotonic() - start


def test_a_run_on_a_hub_dataset_fails_at_once_in_one_sentence(tmp_path, unreachable):
    r, took = timed("run", str(CONFIGS / "openai.yaml"), "--out", "run", cwd=tmp_path, env=unreachable)
    assert r.returncode == 2 and took < QUICK_WITH_TORCH_S and "Retry" not in r.stderr, (took, r.stderr)
    [line] = [line for line in r.stderr.splitlines() if line.strip()]
    assert line.startswith("error: could not load the Hugging Face dataset 'tatsu-lab/alpaca': it is not in this "
                           "machine's Hugging Face cache")
    assert not (tmp_path / "run").exists()


def hub_online_in(env: dict[str, str]) -> str:
    code = "from lion.core.hub import hub_online; print(hub_online('someone/something', 'dataset'))"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_a_hub_that_answers_is_used_as_usual_and_one_that_does_not_is_left_at_once(unreachable):
    async def not_found(request):
        return JSONResponse({"error": "Repository not found"}, status_code=404)

    env = {**os.environ, **unreachable}
    with serve_app(Starlette(routes=[Route("/{path:path}", not_found)])) as url:
        assert hub_online_in({**env, "HF_ENDPOINT": url.removesuffix("/v1")}) == "True"  # it answered, if only "no"
    start = time.monotonic()
    assert hub_online_in(env) == "False"
    assert time.monotonic() - start < QUICK_S
    assert hub_online_in({**env, "HF_HUB_OFFLINE": "1"}) == "False"


def test_in_offline_mode_a_hub_dataset_or_model_missing_from_the_cache_is_one_sentence_at_once():
    # the suite runs with HF_HUB_OFFLINE=1 (conftest): the libraries' own offline mode
    start = time.monotonic()
    with pytest.raises(HubUnreachable, match=r"could not load the Hugging Face dataset 'someone/nothing-here': it is "
                                             r"not in this machine's Hugging Face cache, and offline mode is on"):
        load_seeds(DataConfig(seeds="hf:someone/nothing-here"), 0)
    with pytest.raises(HubUnreachable, match=r"someone/no-model: no model could be loaded from there \(no such folder, "
                                             r"it is not in this machine's Hugging Face cache, and offline mode is on"):
        load_tokenizer(Path("someone/no-model"))
    assert time.monotonic() - start < QUICK_S
