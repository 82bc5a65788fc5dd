"""The anthropic backend against the arena's Anthropic API, served on localhost.

The whole loop runs with all four roles on `backend: anthropic`, online and in batch mode; a
`lion run` killed while its Message Batch is in flight resumes without sending anything twice
(the server counts every request); the budget holds when every prompt is written to the cache
at a price dearer than input; a canary key reaches no file, log or message; and the SDK's own
retries are off, so each attempt the dispatcher counts is one request at the server.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from lion.arena.batches import BatchOptions
from lion.arena.server import ServeOptions, build_app
from lion.core.config import RoleConfig, load_config
from lion.core.errors import LionError
from lion.llm.backends.anthropic_native import AnthropicChatModel
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import BudgetExceeded, Call, CallsFailed
from lion.llm.roles import Roles
from lion.loop.run_folder import RunFolder
from lion.loop.runner import run_loop
from lion.loop.summary import Summary
from local_server import serve_app
from run_cli import kill_when, lion
from small_run import SMALL

CONFIGS = Path(__file__).parents[2] / "configs"
ROLES = ("teacher", "referee", "generator", "judge")
KEY_ENV = "LION_TEST_ANTHROPIC_KEY"
CANARY = "sk-ant-api03-canary-7f3e9a1b2c4d5e6f80"
FAST = 1000.0


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, CANARY)


def root(url: str) -> str:
    return url.removesuffix("/v1")


def stats(url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(root(url) + "/stats", timeout=10) as reply:
        return json.load(reply)


def settings(url: str, batch: tuple[str, ...] = ()) -> list[str]:
    sets = [*SMALL, "loop.iterations=1"]
    for r in ROLES:
        sets += [f"{r}.backend=anthropic", f"{r}.base_url={root(url)}", f"{r}.api_key_env={KEY_ENV}"]
    for r in batch:
        sets += [f"{r}.mode=batch", f"{r}.batch.poll_s=0.02", f"{r}.batch.poll_max_s=0.2"]
    return sets


def served(**options):
    app = build_app(ServeOptions(api_key_env=KEY_ENV, **options))
    start = time.time()
    app.state.batches.clock = lambda: start + (time.time() - start) * FAST
    return app


def cached_answers(run: Path) -> int:
    """Answers in a run's cache: the API takes no seed, so a deliberate repeat (another sample) is the
    same request on the wire, and the server cannot tell it from one sent twice by mistake. What
    the run asked for once is what the server answered once: every answer it paid for is cached (the
    rows without a role are the student's own answers)."""
    with sqlite3.connect(run / "cache.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM responses WHERE role != ''").fetchone()[0]


def files_holding(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.parametrize("batch", [(), ROLES], ids=["online", "batch"])
def test_the_whole_loop_runs_on_claude_s_api_in_every_role(tmp_path, batch):
    with serve_app(served(cache_min_tokens=8)) as url:
        run = RunFolder(tmp_path / "run")
        run_loop(load_config(CONFIGS / "arena-http.yaml", settings(url, batch)), run.root, lambda m: None)
        counted = stats(url)
    summary = Summary.model_validate_json((run.root / "summary.json").read_text())
    [it] = [r for r in summary.iterations if not r.closing]
    assert it.judged == it.cache_pool and not it.failed_judgements and it.kept  # every verdict read; the generator wrote
    assert summary.iterations[-1].heldout is not None  # the judge scored the student
    assert counted["answered"] == cached_answers(run.root) > 0
    assert (counted["batched"] > 0) == bool(batch) and counted["batched_again"] == 0
    # the referee's and judge's system prompt was written to the arena's cache once and read after
    assert summary.spend.by_role["referee"].cache_read_tokens > 0
    assert not files_holding(tmp_path, CANARY)


def test_a_refused_key_stops_the_run_before_its_folder_and_shows_no_key(tmp_path, monkeypatch):
    monkeypatch.setenv("LION_TEST_SERVER_KEY", "sk-ant-the-server-wants-this-one")
    app = build_app(ServeOptions(api_key_env="LION_TEST_SERVER_KEY"))  # it echoes the wrong key, as careless servers do
    with serve_app(app) as url:
        args = ["run", str(CONFIGS / "arena-http.yaml"), "--out", str(tmp_path / "run"),
                *[x for s in settings(url) for x in ("--set", s)]]
        out = lion(*args, cwd=tmp_path, env={**os.environ, KEY_ENV: CANARY})
    assert out.returncode == 2 and not (tmp_path / "run").exists()
    assert re.fullmatch(r"error: teacher: http://127.0.0.1:\d+ \(arena-teacher\) refused the API key from "
                        rf"{KEY_ENV} \(HTTP 401\): .*\n", out.stderr), out.stderr
    assert CANARY not in out.stdout + out.stderr and not files_holding(tmp_path, CANARY)


def check(rc: RoleConfig) -> None:
    model = AnthropicChatModel("referee", rc)

    async def run() -> None:
        try:
            await model.check()
        finally:
            await model.aclose()

    asyncio.run(run())


def test_a_model_the_endpoint_does_not_serve_is_refused_naming_what_it_serves():
    with serve_app(served()) as url:
        check(RoleConfig(backend="anthropic", model="arena-referee", base_url=root(url), api_key_env=KEY_ENV))
        with pytest.raises(LionError, match=r"^referee: http://127.0.0.1:\d+ \(claude-nope\) answered 404 \(unknown model "
                                            r"or wrong base_url\): .*\(it serves: arena-"):
            check(RoleConfig(backend="anthropic", model="claude-nope", base_url=root(url), api_key_env=KEY_ENV))


def test_batch_mode_against_a_server_without_message_batches_is_refused():
    async def model(request):
        return JSONResponse({"type": "model", "id": "m", "display_name": "M", "created_at": "2026-01-01T00:00:00Z"})

    app = Starlette(routes=[Route("/v1/models/{id}", model)])
    with serve_app(app) as url:
        rc = RoleConfig(backend="anthropic", model="m", base_url=root(url), api_key_env=KEY_ENV)
        check(rc)  # online it passes
        with pytest.raises(LionError, match=r"^referee: http://127.0.0.1:\d+ does not serve the Message Batches API \(GET "
                                            r"/v1/messages/batches answered HTTP 404.*set referee.mode: online"):
            check(rc.model_copy(update={"mode": "batch"}))


def teacher(tmp_path: Path, url: str, *more: str) -> tuple[Roles, ResponseCache]:
    cfg = load_config(CONFIGS / "arena-http.yaml", [*settings(url), *more])
    cache = ResponseCache(tmp_path / "cache.sqlite")
    return Roles.from_config(cfg, cache), cache


@pytest.mark.parametrize("fault, more", [("529", []), ("hang", ["teacher.timeout_s=0.5"])])
def test_each_attempt_is_one_request_the_sdk_retries_nothing_behind_the_dispatcher(tmp_path, fault, more):
    with serve_app(served(fault_rate=1.0, fault_kinds=[fault], retry_after_s=0, hang_s=5)) as url:
        roles, cache = teacher(tmp_path, url, "teacher.max_attempts=3", "teacher.backoff_s=0.01", *more)
        calls = [Call([{"role": "user", "content": f"Name a river, number {i}."}]) for i in range(2)]
        with pytest.raises(CallsFailed, match=r"teacher: 2 of 2 calls failed after 3 attempts"):
            roles.teacher.run(calls, "teacher")
        roles.close()
        cache.close()
        counted = stats(url)
    assert counted["faults"][fault] == 6 and counted["requests"] == 6


def test_the_budget_holds_when_every_prompt_is_written_to_the_cache_at_a_dearer_price(tmp_path):
    """Every call's system prompt is new, so all of it is a cache write, billed at four times the
    input price: a budget that reserved calls at the input price would be passed by the calls in
    flight together."""
    with serve_app(served(cache_min_tokens=1)) as url:
        roles, cache = teacher(tmp_path, url, "teacher.price.input_per_mtok=1000", "teacher.price.output_per_mtok=1000",
                               "teacher.price.cache_write_per_mtok=4000", "budget.max_usd=3", "teacher.concurrency=8")
        calls = [Call([{"role": "system", "content": f"You are assistant number {i} of a long list. " * 4},
                       {"role": "user", "content": "Name a river."}]) for i in range(60)]
        with pytest.raises(BudgetExceeded):
            roles.teacher.run(calls, "teacher")
        spent = cache.spent_usd()
        written = cache._db.execute("SELECT SUM(cache_write_tokens), COUNT(*) FROM responses").fetchone()
        roles.close()
        cache.close()
    assert 0 < spent <= 3
    assert written[0] > 0 and written[1] > 1  # answers were billed, and their prompts were cache writes


@pytest.mark.parametrize("cancel", [False, True])
def test_a_lion_run_killed_while_its_message_batch_is_in_flight_resumes_without_sending_any_again(tmp_path, cancel):
    """A real SIGKILL of `lion run` while the teacher's Message Batch is in flight. Started again,
    the run waits for that batch; or, cancelled first with `lion batches --cancel`, it sends
    again only what the cancelled batch had not answered."""
    app = build_app(ServeOptions(api_key_env=KEY_ENV, batch=BatchOptions(delay_s=3600)))  # in flight until told otherwise
    with serve_app(app) as url:
        sets = [*settings(url), "teacher.mode=batch", "teacher.batch.poll_s=0.05", "teacher.batch.poll_max_s=0.2"]
        args = ["run", str(CONFIGS / "arena-http.yaml"), "--out", str(tmp_path / "run"), *[x for s in sets for x in ("--set", s)]]
        env = {KEY_ENV: CANARY}
        kill_when(args, tmp_path, lambda: bool(stats(url)["batches"]), env)  # while it polls the batch in flight
        if cancel:
            cancelled = lion("batches", str(tmp_path / "run"), "--cancel", cwd=tmp_path, env=env)
            assert re.fullmatch(r"msgbatch_\w+ \(teacher\): cancel\w+\n", cancelled.stdout), cancelled.stdout + cancelled.stderr
        app.state.batches.options = BatchOptions()  # batches end at once from now on
        finished = lion(*args, cwd=tmp_path, timeout=600, env=env)
        assert finished.returncode == 0, finished.stderr
        counted = stats(url)
        listed = lion("batches", str(tmp_path / "run"), cwd=tmp_path, env=env)
    assert counted["answered"] == cached_answers(tmp_path / "run")
    assert (counted["batched_again"] > 0) == cancel  # only a cancelled batch's unanswered requests went again
    assert listed.returncode == 0 and "msgbatch_" in listed.stdout
    assert (tmp_path / "run" / "summary.json").exists() and not files_holding(tmp_path, CANARY)
