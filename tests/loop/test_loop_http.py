"""The whole loop through the HTTP path: the arena served on localhost with faults injected."""

import json
import os
import time
from pathlib import Path

import pytest

from arena_server import arena_server
from lion.core.config import load_config
from lion.core.errors import LionError
from lion.llm.cache import ResponseCache
from lion.loop.runner import run_loop
from small_run import SMALL

CONFIGS = Path(__file__).parents[2] / "configs"
ROLES = ("teacher", "referee", "generator", "judge")


def http_overrides(url: str, key_env: str) -> list[str]:
    out = [*SMALL]
    for role in ROLES:
        out += [f"{role}.base_url={url}", f"{role}.api_key_env={key_env}", f"{role}.timeout_s=1",
                f"{role}.backoff_s=0.02", f"{role}.backoff_max_s=0.2", f"{role}.max_attempts=10"]
    return out


def test_loop_over_http_with_faults_answers_each_call_once_and_leaks_no_key(tmp_path, monkeypatch):
    secret = "sk-lion-" + os.urandom(16).hex()
    monkeypatch.setenv("LION_TEST_ARENA_KEY", secret)
    out = tmp_path / "run"
    lines: list[str] = []
    flags = ["--config", str(CONFIGS / "arena.yaml"), "--fault-rate", "0.2", "--retry-after", "0.05",
             "--hang", "30", "--api-key-env", "LION_TEST_ARENA_KEY"]
    with arena_server(*flags) as server:
        cfg = load_config(CONFIGS / "arena-http.yaml", http_overrides(server.url, "LION_TEST_ARENA_KEY"))
        summary = run_loop(cfg, out, lines.append)
        stats = server.stats()
        assert [it.closing for it in summary.iterations] == [False, False, True]
        assert all(stats["faults"].get(k, 0) > 0 for k in ("429", "500", "hang", "truncated", "malformed"))
        cache = ResponseCache(out / "cache.sqlite")
        fetched = sum(u["calls"] for u in cache.usage())
        assert {u["role"] for u in cache.usage()} == set(ROLES)
        cache.close()
        # every distinct request was answered once, and each answer sits in the cache
        assert stats["answered_twice"] == 0 and stats["answered"] == stats["answered_distinct"] == fetched

        # redo every LLM stage from scratch (the students stay): not one request reaches the server
        state = json.loads((out / "state.json").read_text())
        state["done"] = [s for s in state["done"] if s == "setup" or s.endswith(".imitation")]
        (out / "state.json").write_text(json.dumps(state))
        assert run_loop(cfg, out, lines.append) == summary
        assert server.stats()["requests"] == stats["requests"]

        # a wrong key stops the run before any stage, in one sentence without either key
        wrong = "sk-wrong-" + os.urandom(16).hex()
        monkeypatch.setenv("LION_TEST_ARENA_KEY", wrong)
        with pytest.raises(LionError, match="refused the API key from LION_TEST_ARENA_KEY") as e:
            run_loop(cfg, tmp_path / "other", lines.append)
        assert secret not in str(e.value) and wrong not in str(e.value)
        assert not (tmp_path / "other").exists()

    # the server is gone: the finished run still prints its table, without trying to reach it
    monkeypatch.setenv("LION_TEST_ARENA_KEY", secret)
    started = time.monotonic()
    assert run_loop(cfg, out, lines.append) == summary
    assert time.monotonic() - started < 10

    for path in [p for p in tmp_path.rglob("*") if p.is_file()]:
        assert secret.encode() not in path.read_bytes(), path
    assert not any(secret in line for line in lines)
