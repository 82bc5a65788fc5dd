"""The served arena's Files and Batches API, driven through the `openai` SDK as a batch client would.

The server runs in a thread of the test on a free localhost port. Its batches advance with a
clock the test sets, so "in progress", "expired" and the pace of a batch are exact, not slept.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request

import openai
import pytest

from lion.arena.batches import BatchOptions
from lion.arena.server import ServeOptions, build_app
from local_server import Clock, serve_app

MESSAGES = [{"role": "user", "content": f"What is the capital of {c}?"} for c in
            ("France", "Peru", "Japan", "Chile", "Kenya", "Spain", "Egypt", "Nepal")]


@pytest.fixture
def arena(request):
    """(client, clock, stats URL) of a served arena with the batch options the test marks."""
    options = getattr(request, "param", {})
    clock = Clock()
    app = build_app(ServeOptions(batch=BatchOptions(**options)))
    app.state.batches.clock = clock
    with serve_app(app) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        yield client, clock, url.removesuffix("/v1") + "/stats"
        client.close()


def requests_file(n: int, model: str = "arena-teacher") -> bytes:
    lines = [{"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": model, "messages": [MESSAGES[i % len(MESSAGES)]], "temperature": 0.7, "max_tokens": 64,
                       "seed": i}} for i in range(n)]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def submit(client: openai.OpenAI, data: bytes):
    uploaded = client.files.create(file=("requests.jsonl", io.BytesIO(data)), purpose="batch")
    return client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h",
                                 metadata={"run": "test"})


def lines(client: openai.OpenAI, file_id: str | None) -> dict[str, dict]:
    if file_id is None:
        return {}
    return {(r := json.loads(line))["custom_id"]: r for line in client.files.content(file_id).text.splitlines()}


def test_a_batch_answers_each_request_as_the_same_request_online_does(arena):
    client, _, stats = arena
    data = requests_file(8)
    batch = submit(client, data)
    assert batch.status == "in_progress" or batch.status == "completed"
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.request_counts.model_dump() == {"total": 8, "completed": 8, "failed": 0}
    assert done.metadata == {"run": "test"} and done.error_file_id is None
    out = lines(client, done.output_file_id)
    assert sorted(out) == [f"req-{i}" for i in range(8)]
    for line in data.decode().splitlines():
        request = json.loads(line)
        online = client.chat.completions.create(**request["body"])
        answer = out[request["custom_id"]]["response"]
        assert answer["status_code"] == 200
        assert answer["body"]["choices"][0]["message"]["content"] == online.choices[0].message.content
    # the server's request log counts the batch's answers with the online ones: each twice
    with urllib.request.urlopen(stats, timeout=10) as reply:
        counted = json.load(reply)
    assert (counted["answered"], counted["answered_distinct"], counted["answered_twice"]) == (16, 8, 8)


@pytest.mark.parametrize("arena", [{"delay_s": 100.0}], indirect=True)
def test_a_slow_batch_is_in_progress_until_its_delay_has_passed(arena):
    client, clock, _ = arena
    batch = submit(client, requests_file(8))
    clock.now += 50  # half the delay: half the requests done, nothing to download yet
    half = client.batches.retrieve(batch.id)
    assert half.status == "in_progress" and half.request_counts.completed == 4 and half.output_file_id is None
    clock.now += 50
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and len(lines(client, done.output_file_id)) == 8
    assert done.completed_at == int(clock.now)


@pytest.mark.parametrize("arena", [{"delay_s": 100.0, "expiry_s": 50.0}], indirect=True)
def test_an_expired_batch_keeps_what_was_done_and_names_the_rest(arena):
    client, clock, stats = arena
    batch = submit(client, requests_file(8))
    clock.now += 60
    expired = client.batches.retrieve(batch.id)
    assert expired.status == "expired" and expired.request_counts.completed == 4
    out, errors = lines(client, expired.output_file_id), lines(client, expired.error_file_id)
    assert len(out) == 4 and len(errors) == 4 and not set(out) & set(errors)
    assert {e["error"]["code"] for e in errors.values()} == {"batch_expired"}
    # sent again, only the missing half is asked for: no request is answered twice
    resent = b"".join(line + b"\n" for line in requests_file(8).splitlines() if json.loads(line)["custom_id"] in errors)
    second = submit(client, resent)
    clock.now += 60
    again = client.batches.retrieve(second.id)
    assert again.status == "expired" and again.request_counts.total == 4 and again.request_counts.completed == 2
    assert not set(lines(client, again.output_file_id)) & set(out)
    with urllib.request.urlopen(stats, timeout=10) as reply:
        counted = json.load(reply)
    assert (counted["answered"], counted["answered_twice"]) == (6, 0)


@pytest.mark.parametrize("arena", [{"failure_rate": 0.5}], indirect=True)
def test_failed_requests_are_in_the_error_file_and_the_batch_still_completes(arena):
    client, _, _ = arena
    done = client.batches.retrieve(submit(client, requests_file(40)).id)
    out, errors = lines(client, done.output_file_id), lines(client, done.error_file_id)
    assert done.status == "completed" and 5 < len(errors) < 35 and len(out) + len(errors) == 40
    assert done.request_counts.failed == len(errors)
    assert {e["response"]["status_code"] for e in errors.values()} == {500}


@pytest.mark.parametrize("arena", [{"delay_s": 100.0}], indirect=True)
def test_a_cancelled_batch_ends_at_once_with_what_was_done(arena):
    client, clock, _ = arena
    batch = submit(client, requests_file(8))
    clock.now += 25
    cancelled = client.batches.cancel(batch.id)
    assert cancelled.status == "cancelled" and cancelled.request_counts.completed == 2
    assert {e["error"]["code"] for e in lines(client, cancelled.error_file_id).values()} == {"batch_cancelled"}
    with pytest.raises(openai.ConflictError, match="Cannot cancel a batch with status 'cancelled'"):
        client.batches.cancel(batch.id)


def test_batches_are_listed_newest_first_a_page_at_a_time(arena):
    client, clock, _ = arena
    ids = []
    for _ in range(3):
        ids.append(submit(client, requests_file(2)).id)
        clock.now += 1
    first = client.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2] and first.has_more
    assert [b.id for b in client.batches.list(limit=2, after=ids[1]).data] == [ids[0]]
    assert [b.id for b in client.batches.list()] == ids[::-1]  # the SDK follows the pages


def test_an_invalid_input_file_fails_the_batch_with_the_line_at_fault(arena):
    client, _, _ = arena
    good = json.loads(requests_file(1).decode())
    data = json.dumps(good) + "\nnot json\n" + json.dumps({**good, "url": "/v1/embeddings"}) + "\n"
    failed = submit(client, data.encode())
    assert failed.status == "failed"
    assert [(e.line, e.code) for e in failed.errors.data] == [(2, "invalid_json_line"), (3, "invalid_request")]
    with pytest.raises(openai.BadRequestError, match="for /v1/chat/completions only"):
        client.batches.create(input_file_id=client.files.list().data[0].id, endpoint="/v1/embeddings",
                              completion_window="24h")
    with pytest.raises(openai.NotFoundError, match="No such File object: file-nope"):
        client.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")


def test_a_request_the_endpoint_refuses_online_is_refused_in_the_batch_too(arena):
    client, _, _ = arena
    done = client.batches.retrieve(submit(client, requests_file(2, model="gpt-nope")).id)
    errors = lines(client, done.error_file_id)
    assert done.status == "completed" and done.output_file_id is None and len(errors) == 2
    assert {e["response"]["status_code"] for e in errors.values()} == {404}
    assert "does not exist" in errors["req-0"]["response"]["body"]["error"]["message"]


@pytest.mark.parametrize("arena", [{"max_file_bytes": 100}], indirect=True)
def test_files_over_the_size_limit_are_refused_and_files_can_be_deleted(arena):
    client, _, _ = arena
    with pytest.raises(openai.BadRequestError, match="at most 100 bytes per file"):
        client.files.create(file=("big.jsonl", io.BytesIO(b"x" * 101)), purpose="batch")
    small = client.files.create(file=("small.jsonl", io.BytesIO(b"{}\n")), purpose="batch")
    assert client.files.retrieve(small.id).bytes == 3
    assert client.files.delete(small.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(small.id)


def test_the_batch_routes_need_the_key_when_one_is_set(monkeypatch):
    monkeypatch.setenv("ARENA_TEST_KEY", "sekrit-batch-key")
    with serve_app(build_app(ServeOptions(api_key_env="ARENA_TEST_KEY"))) as url:
        for path in ("/files", "/batches", "/batches/batch-x"):
            with pytest.raises(urllib.error.HTTPError, match="401"):
                urllib.request.urlopen(url + path, timeout=10)
        client = openai.OpenAI(base_url=url, api_key="sekrit-batch-key", max_retries=0)
        assert client.batches.list().data == []
