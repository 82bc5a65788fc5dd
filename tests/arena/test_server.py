"""`lion arena serve`, started as a real process and spoken to with the real `openai` SDK.

Each server configuration starts once per module (a start costs about a second of imports),
and the fault servers start side by side, so the whole file stays within a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator

import openai
import pytest
from typer.testing import CliRunner

from arena_server import Server, launch, ready
from lion.arena.chat import ArenaChatModel
from lion.cli import app
from lion.core.chat import Decoding, Message
from lion.core.config import ArenaOptions
from lion.core.errors import LionError
from lion.core.prompts import render
from lion.llm.judging import PairItem, comparison_messages
from lion.llm.verdicts import VERDICT_SCHEMA

TEACHER_PROMPT = render("teacher", instruction="What is the capital of Peru?", input="")
REFEREE_OPTIONS = ArenaOptions(position_bias=3.0, noise=0.0, malformed_rate=0.0)
MIXED_KINDS = "429,500,truncated,malformed"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No faults; the referee's options come from a run config, as `--config` promises."""
    config = tmp_path_factory.mktemp("serve") / "run.yaml"
    config.write_text("referee:\n  arena: " + json.dumps(REFEREE_OPTIONS.model_dump()) + "\n")
    started = ready(launch("--config", str(config)))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def faulty() -> Iterator[dict[str, Server]]:
    """One server per fault kind, every request failing, plus one failing half of its requests."""
    servers = {kind: launch("--fault-rate", "1", "--fault-kinds", kind, "--retry-after", "2.5")
               for kind in ("429", "500", "hang", "truncated", "malformed")}
    servers["mixed"] = launch("--fault-rate", "0.5", "--fault-kinds", MIXED_KINDS, "--seed", "3")
    try:
        yield {kind: ready(s) for kind, s in servers.items()}
    finally:
        for s in servers.values():
            s.stop()


def ask(client: openai.OpenAI, content: str | list, model: str = "arena-teacher", **params):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], **params)


def referee_prompt(answer_1: str, answer_2: str) -> str:
    item = PairItem("", "What is the capital of Peru?", "", answer_1, answer_2)
    return comparison_messages("referee", "text", item, answer_1, answer_2)[-1]["content"]


def in_process(model: str, options: ArenaOptions, prompt: str, decoding: Decoding, sample: int):
    messages: list[Message] = [{"role": "user", "content": prompt}]
    return asyncio.run(ArenaChatModel(model, options).complete(messages, decoding, sample))


# --- the plain server ----------------------------------------------------------------------


def test_models_lists_the_four_arena_roles(server: Server):
    models = server.client().models.list().data
    assert [m.id for m in models] == ["arena-teacher", "arena-referee", "arena-judge", "arena-generator"]
    assert {(m.object, m.owned_by) for m in models} == {("model", "lion-arena")}


def test_a_completion_is_what_the_arena_answers_in_process(server: Server):
    reply = ask(server.client(), TEACHER_PROMPT, temperature=0.7, max_tokens=64, seed=5)
    local = in_process("arena-teacher", ArenaOptions(), TEACHER_PROMPT, Decoding(0.7, 1.0, 64), 5)
    assert reply.id.startswith("chatcmpl-") and reply.object == "chat.completion"
    assert reply.model == "arena-teacher" and len(reply.choices) == 1
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == local.text
    assert reply.choices[0].finish_reason == local.finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (
        local.usage.prompt_tokens, local.usage.completion_tokens
    )
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    parts = ask(server.client(), [{"type": "text", "text": TEACHER_PROMPT}], temperature=0.7, max_tokens=64, seed=5)
    assert parts.choices[0].message.content == local.text


def test_max_tokens_cuts_the_reply_with_finish_reason_length(server: Server):
    reply = ask(server.client(), "Write a sonnet about autumn.", temperature=0, max_completion_tokens=2)
    assert reply.choices[0].finish_reason == "length"
    assert len(reply.choices[0].message.content.split()) == 2


def test_the_seed_draws_a_new_sample_and_a_repeat_draws_the_same(server: Server):
    client = server.client()
    replies = [ask(client, TEACHER_PROMPT, temperature=1.0, seed=s).choices[0].message.content for s in range(8)]
    assert len(set(replies)) > 1
    assert ask(client, TEACHER_PROMPT, temperature=1.0, seed=3).choices[0].message.content == replies[3]


def test_the_run_config_sets_the_referee_options(server: Server):
    prompt = referee_prompt("It is Quito.", "It is Lima.")
    reply = ask(server.client(), prompt, model="arena-referee", temperature=0, max_tokens=512)
    configured = in_process("arena-referee", REFEREE_OPTIONS, prompt, Decoding(0, 1.0, 512), 0)
    default = in_process("arena-referee", ArenaOptions(), prompt, Decoding(0, 1.0, 512), 0)
    assert reply.choices[0].message.content == configured.text != default.text


def test_structured_output_is_what_the_arena_answers_in_process(server: Server):
    prompt = referee_prompt("It is Lima.", "Lima, I believe.")
    schema_text = json.dumps(VERDICT_SCHEMA, sort_keys=True)
    local = in_process("arena-referee", REFEREE_OPTIONS, prompt, Decoding(0.7, 1.0, 512, schema_text), 4)
    reordered = dict(reversed(VERDICT_SCHEMA.items()))  # the server serializes with sorted keys
    for schema in (VERDICT_SCHEMA, reordered):
        response_format = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema, "strict": True}}
        reply = ask(server.client(), prompt, model="arena-referee", temperature=0.7, max_tokens=512, seed=4,
                    response_format=response_format)
        assert reply.choices[0].message.content == local.text
    verdict = json.loads(local.text)
    assert set(verdict) == set(VERDICT_SCHEMA["properties"]) and verdict["assistant_1_score"] == 10
    plain = ask(server.client(), prompt, model="arena-referee", temperature=0.7, seed=4,
                response_format={"type": "text"})
    text = in_process("arena-referee", REFEREE_OPTIONS, prompt, Decoding(0.7, 1.0, 512), 4).text
    assert plain.choices[0].message.content == text
    assert text.endswith(f"Assistant 2 score: {verdict['assistant_2_score']}")


def test_json_object_and_bad_response_formats_are_refused(server: Server):
    client = server.client()
    with pytest.raises(openai.BadRequestError, match="only 'json_schema'") as refused:
        ask(client, "hi", response_format={"type": "json_object"})
    assert refused.value.param == "response_format.type" and refused.value.type == "invalid_request_error"
    bad = [({"type": "xml"}, "response_format.type"),
           ({"type": "json_schema"}, "response_format.json_schema"),
           ({"type": "json_schema", "json_schema": {"name": "v"}}, "response_format.json_schema.schema"),
           ({"type": "json_schema", "json_schema": {"name": "a b", "schema": {}}}, "response_format.json_schema.name")]
    for response_format, param in bad:
        with pytest.raises(openai.BadRequestError) as refused:
            ask(client, "hi", response_format=response_format)
        assert refused.value.param == param and refused.value.type == "invalid_request_error"


def test_unknown_models_and_unsupported_requests_are_refused(server: Server):
    client = server.client()
    with pytest.raises(openai.NotFoundError) as missing:
        ask(client, "hi", model="gpt-oracle")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError, match="[Ss]treaming is not supported"):
        ask(client, "hi", stream=True)
    with pytest.raises(openai.BadRequestError, match="n=1"):
        ask(client, "hi", n=2)
    with pytest.raises(openai.BadRequestError) as bad:
        ask(client, "hi", temperature=3)
    assert bad.value.param == "temperature" and bad.value.type == "invalid_request_error"


def test_stats_count_requests_and_answers(server: Server):
    before = server.stats()
    client = server.client()
    ask(client, "What is 2 plus 2?", seed=101)
    ask(client, "What is 2 plus 2?", seed=101)
    with pytest.raises(openai.NotFoundError):
        ask(client, "hi", model="gpt-oracle")
    ask(client, "What is 2 plus 2?", seed=101,  # the schema makes it another request
        response_format={"type": "json_schema", "json_schema": {"name": "v", "schema": VERDICT_SCHEMA}})
    after = server.stats()
    assert after["requests"] - before["requests"] == 4
    assert after["answered"] - before["answered"] == 3
    assert after["answered_distinct"] - before["answered_distinct"] == 2
    assert after["answered_twice"] - before["answered_twice"] == 1
    assert set(after["faults"].values()) == {0}


# --- the key -------------------------------------------------------------------------------


def test_the_key_is_required_and_never_printed():
    key = "sk-arena-" + secrets.token_hex(12)
    started = ready(launch("--api-key-env", "ARENA_TEST_KEY", env={"ARENA_TEST_KEY": key}))
    try:
        assert ask(started.client(api_key=key), "What is 2 plus 2?").choices[0].message.content
        assert started.client(api_key=key).models.list().data
        for wrong in ("sk-wrong", key + "x"):
            with pytest.raises(openai.AuthenticationError) as refused:
                ask(started.client(api_key=wrong), "hi")
            assert refused.value.code == "invalid_api_key"
            with pytest.raises(openai.AuthenticationError):
                started.client(api_key=wrong).models.list()
    finally:
        out, err = started.stop()
    assert key not in out + err


# --- faults --------------------------------------------------------------------------------


def test_429_is_a_rate_limit_with_retry_after(faulty: dict[str, Server]):
    with pytest.raises(openai.RateLimitError) as limited:
        ask(faulty["429"].client(), "hi")
    assert limited.value.response.headers["retry-after"] == "2.5"
    assert limited.value.type == "rate_limit_error"


def test_500_is_an_internal_server_error(faulty: dict[str, Server]):
    with pytest.raises(openai.InternalServerError) as failed:
        ask(faulty["500"].client(), "hi")
    assert failed.value.type == "server_error"


def test_a_hung_request_ends_with_the_clients_timeout(faulty: dict[str, Server]):
    with pytest.raises(openai.APITimeoutError):
        ask(faulty["hang"].client(timeout=1.0), "hi")


def test_a_truncated_body_is_a_connection_error(faulty: dict[str, Server]):
    for _ in range(2):
        with pytest.raises(openai.APIConnectionError) as broken:
            ask(faulty["truncated"].client(), "hi")
        assert type(broken.value) is openai.APIConnectionError
        assert "RemoteProtocolError" in type(broken.value.__cause__).__name__


def test_a_malformed_body_either_fails_to_parse_or_has_no_choices(faulty: dict[str, Server]):
    client, outcomes = faulty["malformed"].client(), set()
    for _ in range(8):
        try:
            reply = ask(client, "hi")
        except json.JSONDecodeError:  # the SDK lets the decoder's error through, not an APIError
            outcomes.add("invalid json")
        else:
            assert reply.choices == []
            outcomes.add("no choices")
    assert outcomes == {"invalid json", "no choices"}


def test_every_item_is_answered_once_through_retries(faulty: dict[str, Server]):
    client, items = faulty["mixed"].client(), [f"What is {n} plus {n}?" for n in range(16)]
    for item in items:
        for _ in range(20):
            try:
                reply = ask(client, item, temperature=0)
            except (openai.APIError, json.JSONDecodeError):
                continue
            if reply.choices:
                break
    stats = faulty["mixed"].stats()
    assert stats["answered"] == stats["answered_distinct"] == len(items)
    assert stats["answered_twice"] == 0
    assert stats["requests"] == len(items) + sum(stats["faults"].values())
    assert stats["faults"]["hang"] == 0 and all(stats["faults"][k] > 0 for k in MIXED_KINDS.split(","))


def test_faults_leave_nothing_in_the_servers_output(faulty: dict[str, Server]):
    """Cut responses are deliberate: uvicorn's complaint about them is kept out of the log."""
    for kind, started in faulty.items():
        assert started.stop() == ("", ""), kind


# --- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "flag"),
    [(["--fault-rate", "2"], "--fault-rate"), (["--fault-kinds", "429,boom"], "--fault-kinds"),
     (["--latency", "-1"], "--latency"), (["--port", "70000"], "--port"),
     (["--batch-failure-rate", "1.5"], "--batch-failure-rate"), (["--batch-expiry", "0"], "--batch-expiry")],
)
def test_bad_options_are_one_sentence(args: list[str], flag: str):
    result = CliRunner().invoke(app, ["arena", "serve", *args])
    assert isinstance(result.exception, LionError)
    assert str(result.exception).startswith(flag)


def test_a_config_giving_one_arena_model_two_sets_of_options_is_refused(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("judge:\n  model: arena-referee\n  arena: {noise: 2.0}\n")
    result = CliRunner().invoke(app, ["arena", "serve", "--config", str(config)])
    assert isinstance(result.exception, LionError)
    assert "referee and judge both use arena-referee" in str(result.exception)
