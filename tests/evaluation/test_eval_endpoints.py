"""`lion eval` against real endpoints that fail: the arena served over HTTP plays the reference
and the judge, and a small server in this process plays a candidate that rejects every
request (as `transformers serve` does, with FastAPI's `{"detail": ...}`), one that is always
overloaded, and one that does not know the model it is asked for."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from arena_server import arena_server
from lion.arena.world import heldout_set
from lion.core.errors import LionError
from lion.evaluation.compare import EvaluationFailed, run_evaluation
from local_server import free_port, serve_app
from run_cli import lion

HTTP_CONFIG = Path(__file__).parents[2] / "configs" / "arena-http.yaml"
REJECTED = "Input should be a valid chat message list"
# model -> (status, FastAPI-style reason) for every completion; models not listed load on demand
ANSWERS = {"refuser": (400, REJECTED), "overloaded": (503, "model overloaded, try again later"),
           "typo/model": (500, "typo/model is not a local folder and is not a valid model identifier")}
LISTED = ["overloaded", "refuser"]


@contextmanager
def failing_server() -> Iterator[tuple[str, Counter]]:
    asked: Counter[str] = Counter()

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": m, "object": "model"} for m in LISTED]})

    async def chat(request: Request) -> Response:
        model = (await request.json())["model"]
        asked[model] += 1
        status, detail = ANSWERS[model]
        return JSONResponse({"detail": detail}, status)

    app = Starlette(routes=[Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"])])
    with serve_app(app) as url:
        yield url, asked


def teacher_at(url: str, model: str) -> str:
    """A config whose teacher is `model` at `url`, retried briefly; its other roles are the arena's."""
    return (f"teacher:\n  backend: openai\n  model: {model}\n  base_url: {url}\n  max_attempts: 2\n"
            "  backoff_s: 0.01\n  backoff_max_s: 0.02\n  price: {input_per_mtok: 0, output_per_mtok: 0}\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Both servers, a priced copy of the arena-http config pointing at the arena, the
    candidates' configs and four questions."""
    root = tmp_path_factory.mktemp("eval-endpoints")
    with arena_server() as arena, failing_server() as (url, asked):
        text = HTTP_CONFIG.read_text().replace("http://127.0.0.1:8000/v1", arena.url)
        (root / "judge.yaml").write_text(text.replace("input_per_mtok: 0, output_per_mtok: 0",
                                                      "input_per_mtok: 1000, output_per_mtok: 1000"))
        for name, model in (("refusing", "refuser"), ("flaky", "overloaded"), ("typo", "typo/model")):
            (root / f"{name}.yaml").write_text(teacher_at(url, model))
        (root / "q.jsonl").write_text("".join(json.dumps({"id": f"h{i}", "instruction": h["instruction"], "input": h["input"],
                                                          "category": h["family"]}) + "\n"
                                              for i, h in enumerate(heldout_set(4, 0))))
        yield root, url, asked


def test_failing_candidates_are_named_with_count_and_reason_and_the_others_still_written(world):
    root, url, _ = world
    args = ["eval", "--questions", "q.jsonl", "--reference", "teacher=judge.yaml:teacher", "--candidate",
            "again=judge.yaml:teacher", "--candidate", "small=refusing.yaml:teacher", "--candidate", "flaky=flaky.yaml:teacher",
            "--judge", "judge.yaml", "--out", "out", "--set", "threads=1"]
    r = lion(*args, cwd=root)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert (f"candidate small: none of the 4 questions got a usable answer (commonest reason, 4 of 4: HTTP 400: {REJECTED})."
            in r.stderr)
    assert ("candidate flaky: 4 of 4 calls failed after 2 attempts (last reason: HTTP 503: model overloaded, try again later)"
            in r.stderr)
    assert "teacher: 4 of 4" not in r.stderr and "Unclosed" not in r.stderr  # every role's connections closed
    saved = json.loads((root / "out" / "results.json").read_text())
    assert [c["name"] for c in saved["candidates"]] == ["again"] and len(saved["failed"]) == 2
    assert "## Failed" in (root / "out" / "results.md").read_text()
    assert any(line.startswith("again ") for line in r.stdout.splitlines())  # the table of the others is shown
    first = dict(part.rsplit(" $", 1) for part in r.stdout.split("spent in this run")[1].split(": ", 1)[1]
                 .splitlines()[0].split(", "))
    assert float(first["teacher"]) > 0 and float(first["again"]) > 0  # the reference's answers; the judging

    # run again: everything is cached, so each source's bar and total shows nothing spent, not the cache's total
    again = lion(*args, cwd=root, env={"LION_QUIET": "0"})
    assert again.returncode == 2 and "Unclosed" not in again.stderr
    assert "spent in this run (a source's answers, and a candidate's judging): teacher $0.00, again $0.00" in again.stdout
    bars = [line for line in again.stderr.splitlines() if line.startswith(("teacher: answers", "again: judge"))]
    assert len(bars) == 2 and all(line.endswith(", $0.00") for line in bars), bars


def test_every_endpoint_is_checked_before_the_output_folder_is_made(world, tmp_path):
    root, url, asked = world
    before = asked["typo/model"]
    with pytest.raises(LionError) as e:
        run_evaluation(root / "q.jsonl", f"teacher={root / 'judge.yaml'}:teacher", [f"typo={root / 'typo.yaml'}:teacher"],
                       root / "judge.yaml", ["threads=1"], tmp_path / "out")
    assert str(e.value).startswith(f"candidate typo ({root / 'typo.yaml'}:teacher): {url} answered a one-token test "
                                   f"request for 'typo/model' with HTTP 500: {ANSWERS['typo/model'][1]}")
    assert asked["typo/model"] == before + 1 and not (tmp_path / "out").exists()

    nobody = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LionError) as e:
        run_evaluation(root / "q.jsonl", f"teacher={root / 'judge.yaml'}:teacher", [], root / "judge.yaml",
                       ["threads=1", f"judge.base_url={nobody}"], tmp_path / "out")
    assert str(e.value).startswith(f"the judge ({root / 'judge.yaml'}:judge): cannot reach {nobody}: connection refused")
    assert not (tmp_path / "out").exists()


def test_a_reference_without_any_answer_stops_the_evaluation(world, tmp_path):
    root, _, _ = world
    with pytest.raises(LionError) as e:
        run_evaluation(root / "q.jsonl", f"small={root / 'refusing.yaml'}:teacher", [f"teacher={root / 'judge.yaml'}:teacher"],
                       root / "judge.yaml", ["threads=1"], tmp_path / "out")
    assert str(e.value) == (f"reference small: none of the 4 questions got a usable answer (commonest reason, 4 of 4: HTTP 400: "
                            f"{REJECTED}); nothing can be judged against it.")


def test_a_candidate_of_which_nothing_could_be_judged_is_a_failure(world, tmp_path):
    root, url, _ = world
    questions = [json.loads(line) for line in (root / "q.jsonl").read_text().splitlines()]
    for name in ("ref", "cand"):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({"id": q["id"], "answer": f"{name} says hi"}) + "\n"
                                                        for q in questions))
    (tmp_path / "judge.yaml").write_text(f"judge:\n  backend: openai\n  model: refuser\n  base_url: {url}\n  structured: text\n")
    with pytest.raises(EvaluationFailed) as e:
        run_evaluation(root / "q.jsonl", f"ref={tmp_path / 'ref.jsonl'}", [f"cand={tmp_path / 'cand.jsonl'}"],
                       tmp_path / "judge.yaml", ["threads=1"], tmp_path / "out")
    said = str(e.value)  # the verdict's own words come from lion.llm.judging
    assert said.startswith("candidate cand: nothing could be judged, all 4 items left out (commonest reason, 4 of 4: ")
    assert said.endswith(f"HTTP 400: {REJECTED}).")
    assert e.value.evaluation.results == []
    assert json.loads((tmp_path / "out" / "results.json").read_text())["failed"] == [str(e.value)]
