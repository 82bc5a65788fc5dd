"""A role in `mode: batch`: the loop's calls through the Batches API of the arena served on localhost.

The server runs in a thread of the test; its batches advance on a clock the test gives it (a
thousand times real time, so a 100-second batch takes a tenth of a second), and its `/stats`
count what was sent in batches and what was answered, so a test can see that nothing was sent
or paid for twice.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import urllib.request
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from lion.arena.batches import BatchError, BatchOptions
from lion.arena.server import ServeOptions, build_app
from lion.core.config import RoleConfig, load_config
from lion.core.errors import LionError
from lion.llm.backends.openai_compat import OpenAIChatModel
from lion.llm.batches import BatchLedger, BatchSender, Entry, Request
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import BudgetExceeded, Call, CallsFailed
from lion.llm.roles import Roles
from lion.loop.run_folder import RunFolder
from lion.loop.runner import run_loop
from lion.loop.stages.heldout import HeldoutResult
from local_server import check_role, serve_app
from run_cli import kill_when, lion
from small_run import SMALL

CONFIGS = Path(__file__).parents[2] / "configs"
ROLES = ("teacher", "referee", "generator", "judge")
FAST = 1000.0  # server seconds per real second


def fast_clock():
    start = time.time()
    return lambda: start + (time.time() - start) * FAST


def served(**batch):
    app = build_app(ServeOptions(batch=BatchOptions(**batch)))
    app.state.batches.clock = fast_clock()
    return app


def stats(url: str) -> dict:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/stats", timeout=10) as reply:
        return json.load(reply)


def config(url: str, *more: str, batch: tuple[str, ...] = ROLES):
    modes = [f"{r}.mode=batch" for r in batch] + [f"{r}.batch.poll_s=0.02" for r in batch]
    return load_config(CONFIGS / "arena-http.yaml", [*SMALL, *(f"{r}.base_url={url}" for r in ROLES), *modes, *more])


def test_a_run_in_batch_mode_makes_the_same_pools_and_scores_as_online(tmp_path):
    runs = {}
    with serve_app(served(delay_s=30)) as url:
        for mode, batch in (("online", ()), ("batch", ROLES)):
            runs[mode] = RunFolder(tmp_path / mode)
            run_loop(config(url, "loop.iterations=1", batch=batch), runs[mode].root, lambda m: None)
        counted = stats(url)
    for path in (lambda r: r.pools(1).train, lambda r: r.pools(1).cache, lambda r: r.iteration(1).discrimination.split):
        assert path(runs["batch"]).read_text() == path(runs["online"]).read_text()
    scores = [HeldoutResult.model_validate_json(r.iteration(1).heldout.scores.read_text()) for r in runs.values()]
    assert scores[0] == scores[1]
    assert counted["batched"] > 0 and counted["batched_again"] == 0
    ledger = BatchLedger(runs["batch"].cache_path)
    assert {e.role for e in ledger.entries()} == set(ROLES) and {e.state for e in ledger.entries()} == {"collected"}
    ledger.close()


def teacher_calls(n: int) -> list[Call]:
    return [Call([{"role": "user", "content": f"What is the capital of country number {i}?"}]) for i in range(n)]


def teacher_role(tmp_path: Path, url: str, *more: str):
    cfg = config(url, *more, batch=("teacher",))
    cache = ResponseCache(tmp_path / "cache.sqlite")
    return Roles.from_config(cfg, cache), cache


def test_an_expired_batch_sends_again_only_what_it_did_not_answer(tmp_path):
    app = served(delay_s=100, expiry_s=50)  # every batch expires with half its requests done
    with serve_app(app) as url:
        roles, cache = teacher_role(tmp_path, url, "teacher.max_attempts=1")
        with pytest.raises(CallsFailed, match=r"teacher: 4 of 8 calls failed after 1 attempts \(last reason: "
                                              r"batch_expired"):
            roles.teacher.run(teacher_calls(8), "teacher")
        roles.close()
        app.state.batches.options = BatchOptions()  # no expiry: the rest completes
        roles, cache2 = teacher_role(tmp_path, url, "teacher.price.input_per_mtok=1000", "teacher.price.output_per_mtok=2000")
        answers = roles.teacher.run(teacher_calls(8), "teacher")
        roles.close()
        counted = stats(url)
    assert all(a.text for a in answers)
    # the 4 answers fetched at a price are billed at half of it, as batches are
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        priced = db.execute("SELECT prompt_tokens, completion_tokens, cost_usd FROM responses WHERE cost_usd > 0").fetchall()
    assert len(priced) == 4
    assert all(cost == pytest.approx((p * 500 + c * 1000) / 1e6) for p, c, cost in priced)
    # 8 sent, then again only the 4 the expired batch had not executed; each answered once
    assert (counted["batched"], counted["batched_again"]) == (12, 4)
    assert (counted["answered"], counted["answered_twice"]) == (8, 0)
    for c in (cache, cache2):
        c.close()


def test_a_run_killed_with_batches_in_flight_waits_for_them_instead_of_sending_again(tmp_path):
    with serve_app(served(delay_s=100)) as url:
        roles, cache = teacher_role(tmp_path, url)
        teacher = roles.teacher
        calls = teacher_calls(6)
        requests = [Request(teacher.key(c), c.messages, teacher.model.request_body(c.messages, teacher.decoding, 0))
                    for c in calls]
        # killed once the first batch was created, and once a second file was uploaded but not yet batched
        sender = BatchSender(teacher.model, teacher.settings.batch, teacher.batches, "teacher", teacher.endpoint, "", 6)
        chunks = sender._chunks(requests)
        teacher.loop.run_until_complete(sender._submit(chunks[0][:3]))
        second = chunks[0][3:]
        file_id = teacher.loop.run_until_complete(teacher.model.open_batch("f.jsonl", [line for _, line in second]))
        teacher.batches.add(Entry(file_id, None, "teacher", teacher.endpoint, "", [r.key for r, _ in second], "uploaded", 0))
        roles.close()
        cache.close()
        roles, cache = teacher_role(tmp_path, url)  # the run started again
        answers = roles.teacher.run(calls, "teacher")
        entries = roles.teacher.batches.entries()
        roles.close()
        cache.close()
        counted = stats(url)
    assert all(a.text for a in answers)
    assert (counted["batched"], counted["batched_again"], counted["batches"]) == (6, 0, 2)
    assert [e.state for e in entries] == ["collected", "collected"] and all(e.batch_id for e in entries)


def test_a_server_without_the_batches_api_is_refused_before_the_run(tmp_path):
    async def models(request):
        return JSONResponse({"object": "list", "data": [{"id": "m", "object": "model"}]})

    app = Starlette(routes=[Route("/v1/models", models)])
    with serve_app(app) as url:
        check_role("teacher", url, "m")  # online it passes
        with pytest.raises(LionError, match=r"^teacher: http://127.0.0.1:\d+/v1 does not serve the Batches API \(GET "
                                            r"/batches answered HTTP 404.*set teacher.mode: online"):
            check_role("teacher", url, "m", mode="batch")


def test_a_line_that_cannot_be_read_fails_its_request_not_the_batch():
    model = OpenAIChatModel("teacher", RoleConfig(backend="openai", model="m"))  # reading a line asks nothing of the server
    key, outcome = model.read_batch_line("{not json")
    assert key is None and outcome.retryable
    key, outcome = model.read_batch_line(json.dumps({"custom_id": "k", "response": {"status_code": 400, "body": {
        "error": {"message": "max_tokens is too large"}}}, "error": None}))
    assert key == "k" and not outcome.retryable and "max_tokens is too large" in outcome.reason
    key, outcome = model.read_batch_line(json.dumps({"custom_id": "k", "error": {"code": "batch_expired", "message": "x"}}))
    assert key == "k" and outcome.retryable


def test_batch_mode_is_refused_where_the_backend_has_no_batches():
    with pytest.raises(LionError, match=r"--set teacher.mode: only the openai, azure and anthropic backends read it"):
        load_config(None, ["teacher.mode=batch"])


def test_lion_batches_lists_a_runs_batches_and_cancels_those_in_flight(tmp_path):
    app = build_app(ServeOptions(batch=BatchOptions(delay_s=3600)))  # real time: in flight for an hour
    with serve_app(app) as url:
        cfg = config(url, batch=("teacher",))
        run = RunFolder(tmp_path / "run")
        run.root.mkdir()
        run.bind_config(cfg)
        cache = ResponseCache(run.cache_path)
        roles = Roles.from_config(cfg, cache)
        teacher = roles.teacher
        requests = [Request(teacher.key(c), c.messages, teacher.model.request_body(c.messages, teacher.decoding, 0))
                    for c in teacher_calls(5)]
        sender = BatchSender(teacher.model, teacher.settings.batch, teacher.batches, "teacher", teacher.endpoint, "1.imitation", 6)
        teacher.loop.run_until_complete(sender._submit(sender._chunks(requests)[0]))
        roles.close()
        cache.close()
        listed = lion("batches", str(run.root), cwd=tmp_path)
        assert listed.returncode == 0 and re.search(r"batch-\w+ +│ teacher │ 1.imitation │ in_progress │ +5 │", listed.stdout)
        cancelled = lion("batches", str(run.root), "--cancel", cwd=tmp_path)
        assert cancelled.returncode == 0 and re.fullmatch(r"batch-\w+ \(teacher\): cancelled\n", cancelled.stdout)
        again = lion("batches", str(run.root), "--cancel", cwd=tmp_path)
        assert again.stdout == "no batch of this run is in flight.\n"
    assert lion("batches", str(tmp_path), cwd=tmp_path).returncode == 2  # not a run folder: one sentence


@pytest.mark.parametrize("cancel", [False, True])
def test_a_lion_run_killed_while_its_batches_are_in_flight_resumes_without_sending_any_again(tmp_path, cancel):
    """A real SIGKILL of `lion run` while its first batch is in flight. Started again, the run
    waits for that batch; or, cancelled first with `lion batches --cancel`, it sends again only
    what the cancelled batch had not answered."""
    app = build_app(ServeOptions(batch=BatchOptions(delay_s=3600)))  # real time: in flight until told otherwise
    with serve_app(app) as url:
        sets = [*SMALL, "loop.iterations=1", *(f"{r}.base_url={url}" for r in ROLES), "teacher.mode=batch",
                "teacher.batch.poll_s=0.05", "teacher.batch.poll_max_s=0.2"]
        args = ["run", str(CONFIGS / "arena-http.yaml"), "--out", str(tmp_path / "run"), *[x for s in sets for x in ("--set", s)]]
        kill_when(args, tmp_path, lambda: bool(app.state.batches.batches))  # while it polls the batch in flight
        if cancel:
            cancelled = lion("batches", str(tmp_path / "run"), "--cancel", cwd=tmp_path)
            assert re.fullmatch(r"batch-\w+ \(teacher\): cancelled\n", cancelled.stdout), cancelled.stdout + cancelled.stderr
        app.state.batches.options = BatchOptions()  # batches complete at once from now on
        finished = lion(*args, cwd=tmp_path, timeout=600)
        assert finished.returncode == 0, finished.stderr
        counted = stats(url)
        first = min(app.state.batches.batches.values(), key=lambda b: b.created_at)
    # no answer was paid twice; only a cancelled batch's unanswered requests were sent again
    assert counted["answered_twice"] == 0
    assert first.status == ("cancelled" if cancel else "completed")
    assert counted["batched_again"] == (len(first.requests) if cancel else 0)
    assert (tmp_path / "run" / "summary.json").exists()


def test_an_output_file_that_cannot_be_downloaded_stops_the_run_naming_its_batch(tmp_path):
    app = served()
    with serve_app(app) as url:
        roles, cache = teacher_role(tmp_path, url)
        store = app.state.batches
        original = store.file

        def gone(file_id):  # the server has lost the batch's output file
            if file_id.startswith("file-") and store.files[file_id].purpose == "batch_output":
                raise BatchError(404, f"No such File object: {file_id}", "file_id")
            return original(file_id)

        store.file = gone
        with pytest.raises(LionError, match=r"^teacher: could not download the results of batch batch-\w+: file file-\w+: "
                                            r".*run the same command again to collect it"):
            roles.teacher.run(teacher_calls(3), "teacher")
        assert [e.state for e in roles.teacher.batches.entries()] == ["completed"]  # kept, to collect next time
        store.file = original
        assert all(a.text for a in roles.teacher.run(teacher_calls(3), "teacher"))
        assert stats(url)["batched_again"] == 0
        roles.close()
        cache.close()


def test_a_batch_whose_worst_case_would_pass_the_budget_is_not_sent(tmp_path):
    with serve_app(served()) as url:
        roles, cache = teacher_role(tmp_path, url, "teacher.price.input_per_mtok=1000", "teacher.price.output_per_mtok=1000",
                                    "budget.max_usd=0.5")
        with pytest.raises(BudgetExceeded, match=r"^budget: \$0.00 spent and the next teacher batch could cost more than "
                                                 r"the \$0.50 left"):
            roles.teacher.run(teacher_calls(20), "teacher")  # 20 x (prompt + 64 answer tokens) x $1000/M x 1/2
        roles.close()
        cache.close()
        assert stats(url)["batched"] == 0
