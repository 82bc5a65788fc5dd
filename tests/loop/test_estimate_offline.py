"""`lion estimate`, and the loads by Hugging Face Hub name it makes, where the Hub cannot be reached.

The Hub's clients retry an unreachable Hub for about 25 s a file, two warning lines a try.
These tests run `lion` in a fresh process without the suite's HF_HUB_OFFLINE, with the Hub's
address (HF_ENDPOINT) a closed port on this machine, so that the Hub refuses at once and no
test waits on a network, and with an empty Hugging Face cache (HF_HOME).
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from lion.core.chat import estimate_tokens
from lion.core.config import DataConfig, load_config
from lion.core.hub import HubUnreachable
from lion.core.prompts import render
from lion.data.seeds import load_seeds
from lion.loop.estimate import estimate
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


def test_a_hub_dataset_is_estimated_at_once_from_data_limit_and_said_to_be_a_guess(tmp_path, unreachable):
    args = ["estimate", str(CONFIGS / "openai.yaml"), "--set", "data.limit=500"]
    r, took = timed(*args, cwd=tmp_path, env=unreachable)
    assert r.returncode == 0, r.stderr
    assert took < QUICK_S and "Retry" not in r.stderr and "Traceback" not in r.stderr, (took, r.stderr)
    assert "estimate for 500 seed instructions (guessed)" in r.stdout
    said = " ".join(r.stdout.split())
    assert (f"guessed: could not load the Hugging Face dataset 'tatsu-lab/alpaca': it is not in this machine's Hugging "
            f"Face cache, and the Hub ({unreachable['HF_ENDPOINT']}) did not answer") in said
    assert "the estimate assumes data.limit's 500 seeds of about 300 characters each" in said
    assert "max cost" in r.stdout and "…" not in r.stdout
    as_json = lion(*args, "--json", cwd=tmp_path, env=unreachable)
    teacher = {row["role"]: row for row in json.loads(as_json.stdout)}["teacher"]
    assert teacher["calls"] == 500 + 3 * 6000  # the seeds, and 6,000 new instructions in each of 3 iterations
    assert "guessed: could not load the Hugging Face dataset" in as_json.stderr  # beside the JSON, not in it


def test_without_data_limit_the_estimate_says_in_one_sentence_what_it_lacks(tmp_path, unreachable):
    r, took = timed("estimate", str(CONFIGS / "openai.yaml"), "--set", "data.limit=null", cwd=tmp_path, env=unreachable)
    assert r.returncode == 2 and took < QUICK_S and "Traceback" not in r.stderr
    assert [line for line in r.stderr.splitlines() if line.strip()] == [
        f"error: could not load the Hugging Face dataset 'tatsu-lab/alpaca': it is not in this machine's Hugging Face "
        f"cache, and the Hub ({unreachable['HF_ENDPOINT']}) did not answer: [Errno 111] Connection refused; without "
        "its seeds, lion estimate can guess from data.limit, which this config leaves unset."]


def test_a_run_on_a_hub_dataset_fails_at_once_in_one_sentence(tmp_path, unreachable):
    r, took = timed("run", str(CONFIGS / "openai.yaml"), "--out", "run", cwd=tmp_path, env=unreachable)
    assert r.returncode == 2 and took < QUICK_WITH_TORCH_S and "Retry" not in r.stderr, (took, r.stderr)
    [line] = [line for line in r.stderr.splitlines() if line.strip()]
    assert line.startswith("error: could not load the Hugging Face dataset 'tatsu-lab/alpaca': it is not in this "
                           "machine's Hugging Face cache")
    assert not (tmp_path / "run").exists()


def test_prompts_a_local_model_would_count_are_guessed_at_once_and_said_to_be(tmp_path, unreachable):
    r, took = timed("estimate", str(CONFIGS / "local.yaml"), "--set", "data.seeds=arena", cwd=tmp_path, env=unreachable)
    assert r.returncode == 0, r.stderr
    assert took < QUICK_WITH_TORCH_S and "Retry" not in r.stderr, (took, r.stderr)
    said = " ".join(r.stdout.split())
    for roles, model in (("teacher and generator", "Qwen/Qwen2.5-7B-Instruct"),
                         ("referee", "mistralai/Mistral-7B-Instruct-v0.3")):
        assert (f"guessed: the {roles} prompts are counted at 4 characters a token, and bounded as the budget bounds "
                f"a guess, because the tokenizer that counts them exactly could not be loaded: {model}: no model could "
                "be loaded from there (no such folder, it is not in this machine's Hugging Face cache") in said, said


def test_the_estimate_records_which_roles_prompts_are_guessed_and_why():
    # in this process the Hub is off (HF_HUB_OFFLINE=1, conftest): the tokenizers are not in the cache
    cfg = load_config(CONFIGS / "local.yaml", ["data.seeds=arena", "data.arena_size=40", "threads=1"])
    seeds, _ = load_seeds(cfg.data, cfg.loop.seed)
    rows = {r.role: r for r in estimate(cfg, seeds, [])}
    assert rows["teacher"].uncounted.startswith("Qwen/Qwen2.5-7B-Instruct: no model could be loaded from there")
    assert rows["referee"].uncounted.startswith("mistralai/Mistral-7B-Instruct-v0.3: no model could be loaded")
    assert rows["judge"].uncounted is None  # no held-out set: no judge prompt to count
    prompts = [estimate_tokens(render("teacher", instruction=s.instruction, input=s.input)) for s in seeds]
    assert rows["teacher"].prompt_tokens == round(rows["teacher"].calls * mean(prompts))  # four characters a token


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
