"""The served arena's Anthropic Message Batches, driven through the official `anthropic` SDK.

Message Batches share the store, options and clock of OpenAI's batches: the test moves the
clock and sets the options on `app.state.batches`, as the OpenAI batch tests do.
"""

from __future__ import annotations

import asyncio
import io
import json
import urllib.error
import urllib.request

import anthropic
import openai
import pytest

from lion.arena.batches import BatchOptions
from lion.arena.chat import ArenaChatModel
from lion.arena.server import ServeOptions, build_app
from lion.core.chat import Decoding
from lion.core.config import ArenaOptions
from local_server import Clock, serve_app

QUESTIONS = [f"What is the capital of {c}?" for c in ("France", "Peru", "Japan", "Chile", "Kenya", "Spain")]


@pytest.fixture
def arena(request):
    """(client, clock, app, /v1 URL) of a served arena with the batch options the test marks."""
    clock = Clock()
    app = build_app(ServeOptions(batch=BatchOptions(**getattr(request, "param", {}))))
    app.state.batches.clock = clock
    with serve_app(app) as url:
        client = anthropic.Anthropic(base_url=url.removesuffix("/v1"), api_key="unused", max_retries=0)
        yield client, clock, app, url
        client.close()


def params(i: int, **more) -> dict:
    return {"model": "arena-teacher", "max_tokens": 64, "temperature": 0.7,
            "messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}], **more}


def requests(n: int) -> list[dict]:
    return [{"custom_id": f"req-{i}", "params": params(i)} for i in range(n)]


def results(client: anthropic.Anthropic, batch_id: str) -> dict[str, object]:
    return {line.custom_id: line.result for line in client.messages.batches.results(batch_id)}


def stats(url: str) -> dict:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/stats", timeout=10) as reply:
        return json.load(reply)


def test_a_batch_answers_each_request_as_the_arena_does_and_counts_it_answered(arena):
    client, _, _, url = arena
    refused = [{"custom_id": "hot", "params": params(0, temperature=1.5)},  # valid online only up to 1
               {"custom_id": "unknown", "params": params(0, model="claude-oracle")}]
    batch = client.messages.batches.create(requests=[*requests(6), *refused])
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    done = client.messages.batches.retrieve(batch.id)
    assert done.processing_status == "ended" and done.ended_at is not None and done.archived_at is None
    assert done.request_counts.succeeded == 6 and done.request_counts.processing == 0
    assert done.request_counts.errored == 2
    assert done.results_url == f"{url}/messages/batches/{batch.id}/results"
    assert (done.expires_at - done.created_at).total_seconds() == 24 * 3600
    got = results(client, batch.id)
    assert sorted(got) == sorted([f"req-{i}" for i in range(6)] + ["hot", "unknown"])
    # params are checked as each request is done, with the error the same request gets online
    assert got["hot"].type == "errored" and got["hot"].error.error.type == "invalid_request_error"
    assert got["hot"].error.error.message.startswith("temperature")
    assert got["unknown"].type == "errored" and got["unknown"].error.error.type == "not_found_error"
    for i in range(6):
        local = asyncio.run(ArenaChatModel("arena-teacher", ArenaOptions()).complete(
            params(i)["messages"], Decoding(0.7, 1.0, 64), 0))
        assert got[f"req-{i}"].type == "succeeded"
        assert got[f"req-{i}"].message.content[0].text == local.text
        assert got[f"req-{i}"].message.usage.input_tokens == local.usage.prompt_tokens
    counted = stats(url)
    assert (counted["answered"], counted["answered_twice"], counted["batched"], counted["batches"]) == (6, 0, 8, 1)


@pytest.mark.parametrize("arena", [{"delay_s": 100.0, "failure_rate": 0.5}], indirect=True)
def test_a_slow_batch_is_in_progress_then_ends_with_succeeded_and_errored_results(arena):
    client, clock, app, _ = arena
    batch = client.messages.batches.create(requests=requests(20))
    clock.now += 50
    half = client.messages.batches.retrieve(batch.id)
    assert half.processing_status == "in_progress" and half.results_url is None
    assert half.request_counts.processing == 20 and half.request_counts.succeeded == 0
    with pytest.raises(anthropic.AnthropicError, match="No `results_url`"):
        client.messages.batches.results(batch.id)
    clock.now += 50
    done = client.messages.batches.retrieve(batch.id)
    got = results(client, batch.id)
    drawn = {c for c in got if app.state.batches.fails(batch.id, c)}  # the seeded failure draw
    assert done.processing_status == "ended" and 0 < len(drawn) < 20
    assert {c for c, r in got.items() if r.type == "errored"} == drawn
    assert (done.request_counts.errored, done.request_counts.succeeded) == (len(drawn), 20 - len(drawn))
    assert {got[c].error.error.type for c in drawn} == {"api_error"}


@pytest.mark.parametrize("arena", [{"delay_s": 100.0, "expiry_s": 50.0}], indirect=True)
def test_an_expired_batch_answers_what_was_done_and_expires_the_rest(arena):
    client, clock, _, url = arena
    batch = client.messages.batches.create(requests=requests(8))
    clock.now += 60
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.model_dump() == {"processing": 0, "succeeded": 4, "errored": 0, "canceled": 0,
                                                 "expired": 4}
    kinds = [r.type for r in results(client, batch.id).values()]
    assert sorted(kinds) == ["expired"] * 4 + ["succeeded"] * 4
    assert stats(url)["answered"] == 4


@pytest.mark.parametrize("arena", [{"delay_s": 100.0}], indirect=True)
def test_a_canceled_batch_is_canceling_then_ends_with_the_rest_canceled(arena):
    client, clock, _, _ = arena
    batch = client.messages.batches.create(requests=requests(8))
    clock.now += 25
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    clock.now += 100  # what was not done by the cancel is never done
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.canceled == 6
    assert ended.request_counts.succeeded == 2
    assert sorted(r.type for r in results(client, batch.id).values()) == ["canceled"] * 6 + ["succeeded"] * 2
    with pytest.raises(anthropic.BadRequestError, match="already ended"):
        client.messages.batches.cancel(batch.id)


def test_the_options_and_clock_set_on_the_shared_store_govern_message_batches(arena):
    client, clock, app, _ = arena
    app.state.batches.options = BatchOptions(delay_s=10.0)
    batch = client.messages.batches.create(requests=requests(2))
    assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    clock.now += 10
    assert client.messages.batches.retrieve(batch.id).processing_status == "ended"


def test_batches_are_listed_newest_first_a_page_at_a_time(arena):
    client, clock, _, _ = arena
    ids = []
    for _ in range(3):
        ids.append(client.messages.batches.create(requests=requests(1)).id)
        clock.now += 1
    newest = ids[::-1]
    first = client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == newest[:2] and first.has_more
    assert (first.first_id, first.last_id) == (newest[0], newest[1])
    after = client.messages.batches.list(limit=2, after_id=newest[1])
    assert [b.id for b in after.data] == [newest[2]] and not after.has_more
    before = client.messages.batches.list(limit=1, before_id=newest[2])
    assert [b.id for b in before.data] == [newest[1]] and before.has_more
    assert [b.id for b in client.messages.batches.list(limit=1)] == newest  # the SDK follows the pages
    with pytest.raises(anthropic.BadRequestError, match="limit"):
        client.messages.batches.list(limit=1001)


@pytest.mark.parametrize("arena", [{"anthropic_max_requests": 3}], indirect=True)
def test_bad_custom_ids_and_too_many_requests_are_refused_at_creation(arena):
    client, _, _, url = arena
    for custom_id, problem in (("has space", "requests.0.custom_id"), ("x" * 65, "requests.0.custom_id"),
                               ("", "requests.0.custom_id")):
        with pytest.raises(anthropic.BadRequestError, match=problem):
            client.messages.batches.create(requests=[{"custom_id": custom_id, "params": params(0)}])
    with pytest.raises(anthropic.BadRequestError, match="requests.1.custom_id: 'a' is used by an earlier request"):
        client.messages.batches.create(requests=[{"custom_id": "a", "params": params(0)},
                                                 {"custom_id": "a", "params": params(1)}])
    with pytest.raises(anthropic.BadRequestError, match="at most 3"):
        client.messages.batches.create(requests=requests(4))
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_nope")
    assert stats(url)["batches"] == 0


@pytest.mark.parametrize("arena", [{"delay_s": 100.0}], indirect=True)
def test_results_before_the_end_are_refused_when_asked_for_directly(arena):
    client, _, _, url = arena
    batch = client.messages.batches.create(requests=requests(2))
    request = urllib.request.Request(f"{url}/messages/batches/{batch.id}/results",
                                     headers={"anthropic-version": "2023-06-01"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    body = json.load(refused.value)
    assert refused.value.code == 400 and body["error"]["type"] == "invalid_request_error"
    assert "has not ended yet" in body["error"]["message"]


def test_stats_count_requests_batched_across_both_apis(arena):
    """A request sent in an OpenAI batch and again in a Message Batch is sent twice, and counted so."""
    client, _, _, url = arena
    line = {"custom_id": "req-0", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "arena-teacher", "messages": params(0)["messages"]}}
    oai = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
    uploaded = oai.files.create(file=("in.jsonl", io.BytesIO(json.dumps(line).encode() + b"\n")), purpose="batch")
    oai.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    client.messages.batches.create(requests=requests(2))  # req-0 again, and req-1
    counted = stats(url)
    assert (counted["batches"], counted["batched"], counted["batched_again"]) == (2, 3, 1)
