"""The served arena's Anthropic Messages API, spoken to with the official `anthropic` SDK.

Servers run in threads of the test on free localhost ports; the SDK's base URL is the server's
root, without /v1, as a `backend: anthropic` role gives it.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import anthropic
import openai
import pytest
from typer.testing import CliRunner

from lion.arena.anthropic_api import tool_input
from lion.arena.chat import ArenaChatModel
from lion.arena.server import ServeOptions, build_app
from lion.cli import app as cli
from lion.core.chat import Completion, Decoding, Message
from lion.core.config import ArenaOptions
from lion.core.errors import LionError
from lion.core.prompts import render
from lion.llm.judging import PairItem, comparison_messages
from lion.llm.verdicts import VERDICT_SCHEMA, ScoreParseError, read_verdict
from local_server import serve_app

TEACHER_PROMPT = render("teacher", instruction="What is the capital of Peru?", input="")
REFEREE = ArenaOptions(position_bias=1.0, noise=1.0, malformed_rate=0.5)
VERDICT_TOOL = {"name": "verdict", "description": "Record the two scores.", "input_schema": VERDICT_SCHEMA}
SCHEMA_TEXT = json.dumps(VERDICT_SCHEMA, sort_keys=True)
# this SDK's `create` takes no sampling arguments: they travel as extra body fields, which the server reads
GREEDY, WARM = {"temperature": 0}, {"temperature": 0.7}
LONG_SYSTEM = "You are a careful assistant who answers in one short sentence. " * 8  # 80 words


def referee_prompt(answer_1: str, answer_2: str) -> str:
    item = PairItem("", "What is the capital of Peru?", "", answer_1, answer_2)
    return comparison_messages("referee", "text", item, answer_1, answer_2)[-1]["content"]


def in_process(model: str, messages: list[Message], decoding: Decoding, sample: int = 0,
               options: ArenaOptions | None = None) -> Completion:
    return asyncio.run(ArenaChatModel(model, options or ArenaOptions()).complete(messages, decoding, sample))


def sdk(url: str, **kwargs) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url.removesuffix("/v1"), max_retries=0, **{"api_key": "unused", **kwargs})


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[anthropic.Anthropic, str, object]]:
    """(client, the server's /v1 URL, the app) of a fault-free arena with a low caching threshold."""
    app = build_app(ServeOptions(cache_min_tokens=50, arena={"arena-referee": REFEREE}))
    with serve_app(app) as url:
        client = sdk(url)
        yield client, url, app
        client.close()


def stats(url: str) -> dict:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/stats", timeout=10) as reply:
        return json.load(reply)


# --- plain messages ------------------------------------------------------------------------------


def test_a_message_is_what_the_arena_answers_in_process(served):
    client, _, _ = served
    raw = client.messages.with_raw_response.create(model="arena-teacher", max_tokens=64, messages=user(TEACHER_PROMPT),
                                                   extra_body={"temperature": 0.7})
    reply = raw.parse()
    local = in_process("arena-teacher", user(TEACHER_PROMPT), Decoding(0.7, 1.0, 64))
    assert raw.headers["request-id"].startswith("req_")
    assert reply.id.startswith("msg_") and reply.type == "message" and reply.role == "assistant"
    assert reply.model == "arena-teacher" and [b.type for b in reply.content] == ["text"]
    assert reply.content[0].text == local.text and reply.stop_reason == "end_turn" and reply.stop_sequence is None
    assert reply.usage.input_tokens == local.usage.prompt_tokens
    assert reply.usage.output_tokens == local.usage.completion_tokens
    assert reply.usage.cache_creation_input_tokens == reply.usage.cache_read_input_tokens == 0


def test_max_tokens_and_stop_sequences_end_the_reply_as_anthropic_says(served):
    client, _, _ = served
    cut = client.messages.create(model="arena-teacher", max_tokens=2, messages=user("Write a sonnet."), extra_body=GREEDY)
    assert cut.stop_reason == "max_tokens" and len(cut.content[0].text.split()) == 2 == cut.usage.output_tokens
    whole = in_process("arena-teacher", user("Write a sonnet."), Decoding(0, 1.0, 64)).text
    assert whole == "I'm not sure about that one, sorry."
    stopped = client.messages.create(model="arena-teacher", max_tokens=64, stop_sequences=["zzz", "one", "about"],
                                     messages=user("Write a sonnet."), extra_body=GREEDY)
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "about"
    assert stopped.content[0].text == "I'm not sure "
    assert stopped.usage.output_tokens == len(stopped.content[0].text.split())


def test_the_system_prompt_as_a_string_or_as_blocks_is_the_arenas_first_message(served):
    """Both forms are one request to the arena, so the second is its second sample."""
    client, _, _ = served
    messages: list[Message] = [{"role": "system", "content": "Be brief.\nBe kind."}, *user(TEACHER_PROMPT)]
    blocks = [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}]
    for sample, system in enumerate(("Be brief.\nBe kind.", blocks)):
        local = in_process("arena-teacher", messages, Decoding(0.7, 1.0, 64), sample)
        reply = client.messages.create(model="arena-teacher", max_tokens=64, system=system, extra_body=WARM,
                                       messages=[{"role": "user", "content": [{"type": "text", "text": TEACHER_PROMPT}]}])
        assert reply.content[0].text == local.text and reply.usage.input_tokens == local.usage.prompt_tokens


def test_each_repeat_of_a_request_is_a_new_sample(served):
    """No seed in Anthropic's API: the n-th answer to the same request is the arena's sample n."""
    client, _, _ = served
    messages = user(referee_prompt("It is Quito.", "It is Lima."))
    # temperature left out: Anthropic's default, 1
    texts = [client.messages.create(model="arena-referee", max_tokens=512, messages=messages).content[0].text
             for _ in range(6)]
    assert len(set(texts)) > 1
    expected = [in_process("arena-referee", messages, Decoding(1.0, 1.0, 512), n, REFEREE).text for n in range(6)]
    assert texts == expected


# --- a forced tool is structured output ----------------------------------------------------------


def test_a_forced_tool_carries_the_verdict_the_arena_gives_as_json():
    prompt = referee_prompt("It is Lima.", "Lima, I believe.")
    clean = ArenaOptions(position_bias=1.0, noise=1.0, malformed_rate=0.0)
    local = in_process("arena-referee", user(prompt), Decoding(0.7, 1.0, 512, SCHEMA_TEXT), 0, clean)
    app = build_app(ServeOptions(arena={"arena-referee": clean}))
    with serve_app(app) as clean_url:
        reply = sdk(clean_url).messages.create(model="arena-referee", max_tokens=512, extra_body=WARM,
                                               messages=user(prompt), tools=[VERDICT_TOOL],
                                               tool_choice={"type": "tool", "name": "verdict"})
        # the OpenAI route's structured reply, with the seed the first Anthropic sample has, is the same verdict
        online = openai.OpenAI(base_url=clean_url, api_key="unused", max_retries=0).chat.completions.create(
            model="arena-referee", messages=user(prompt), temperature=0.7, max_tokens=512, seed=0,
            response_format={"type": "json_schema", "json_schema": {"name": "verdict", "schema": VERDICT_SCHEMA}})
    assert reply.stop_reason == "tool_use" and [b.type for b in reply.content] == ["tool_use"]
    use = reply.content[0]
    assert use.id.startswith("toolu_") and use.name == "verdict"
    assert use.input == json.loads(local.text) == json.loads(online.choices[0].message.content)
    assert read_verdict(json.dumps(use.input), "json")[0] == read_verdict(local.text, "json")[0]
    tool_words = len(json.dumps({k: VERDICT_TOOL[k] for k in ("name", "description", "input_schema")},
                                sort_keys=True).split())
    assert reply.usage.input_tokens == local.usage.prompt_tokens + tool_words


def test_a_malformed_json_reply_becomes_an_object_whose_scores_are_never_invented_nor_lost():
    """Whatever the arena's deliberately malformed JSON, the tool's input is an object. The verdict
    parser reads from it only the scores the reviewer really gave (those of the same sample
    without the malformation), and reads them wherever it reads them from the reply itself."""
    prompt = referee_prompt("It is Lima.", "It is Quito.")
    broken, clean = ArenaOptions(malformed_rate=1.0, noise=1.0), ArenaOptions(malformed_rate=0.0, noise=1.0)
    decoding, outcomes = Decoding(1.0, 1.0, 512, SCHEMA_TEXT), set()
    for n in range(60):
        text = in_process("arena-referee", user(prompt), decoding, n, broken).text
        given = tool_input(text)
        assert isinstance(given, dict)
        try:
            scores = read_verdict(json.dumps(given), "json")[0]
        except ScoreParseError:
            with pytest.raises(ScoreParseError):
                read_verdict(text, "json")
            outcomes.add("refused")
        else:
            assert scores == read_verdict(in_process("arena-referee", user(prompt), decoding, n, clean).text, "json")[0]
            outcomes.add("read")
    assert outcomes == {"read", "refused"}


@pytest.mark.parametrize(("text", "expected"), [
    ('```json\n{"explanation": "ok", "assistant_1_score": 8}\n```', {"explanation": "ok", "assistant_1_score": 8}),
    ('{"explanation": "ok, fine", "assistant_1_score": 8, "assistant_2_score": 1', {"explanation": "ok, fine",
                                                                                     "assistant_1_score": 8}),
    ('{"explanation": "ok", "assis', {"explanation": "ok"}),
    ('{"explanation": "unfinished', {}),
    ("I cannot judge these answers.", {}),
    ("[8, 3]", {}),
])
def test_tool_input_keeps_only_what_is_certainly_whole(text: str, expected: dict):
    assert tool_input(text) == expected


def test_forced_tools_and_bad_requests_are_refused_naming_the_field(served):
    client, _, _ = served
    base = {"model": "arena-teacher", "max_tokens": 16, "messages": user("hi")}
    bad = [({"extra_body": {"temperature": 1.5}}, "temperature"), ({"extra_body": {"stream": True}}, "stream"),
           ({"tool_choice": {"type": "tool", "name": "nope"}, "tools": [VERDICT_TOOL]}, "tool_choice.name"),
           ({"tool_choice": {"type": "any"}}, "tool_choice"), ({"max_tokens": 0}, "max_tokens"),
           ({"messages": [{"role": "system", "content": "hi"}]}, "messages.0.role")]
    for change, field in bad:
        with pytest.raises(anthropic.BadRequestError) as refused:
            client.messages.create(**{**base, **change})
        assert refused.value.body["error"]["type"] == "invalid_request_error"
        assert refused.value.body["error"]["message"].startswith(field), field
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(**{**base, "model": "claude-oracle"})
    assert missing.value.body["error"]["type"] == "not_found_error"
    with serve_app(build_app(ServeOptions(structured=False))) as url:
        with pytest.raises(anthropic.BadRequestError, match="forcing a tool is not supported"):
            sdk(url).messages.create(**base, tools=[VERDICT_TOOL], tool_choice={"type": "tool", "name": "verdict"})
        assert sdk(url).messages.create(**base, tools=[VERDICT_TOOL]).stop_reason == "end_turn"


# --- headers, models ------------------------------------------------------------------------------


def post(url: str, body: dict, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_every_anthropic_request_needs_the_version_header(served):
    _, url, _ = served
    status, body = post(url + "/messages", {"model": "arena-teacher", "max_tokens": 8, "messages": user("hi")}, {})
    assert status == 400 and body["type"] == "error"
    assert body["error"] == {"type": "invalid_request_error", "message": "anthropic-version: header is required."}
    status, _ = post(url + "/messages", {"model": "arena-teacher", "max_tokens": 8, "messages": user("hi")},
                     {"anthropic-version": "2023-06-01"})
    assert status == 200


def test_the_key_is_checked_from_x_api_key(monkeypatch):
    monkeypatch.setenv("ARENA_TEST_KEY", "sk-ant-arena-right")
    with serve_app(build_app(ServeOptions(api_key_env="ARENA_TEST_KEY"))) as url:
        assert sdk(url, api_key="sk-ant-arena-right").messages.create(
            model="arena-teacher", max_tokens=8, messages=user("hi")).content
        for wrong in ("sk-ant-wrong", "sk-ant-arena-rightx"):
            with pytest.raises(anthropic.AuthenticationError, match=wrong) as refused:
                sdk(url, api_key=wrong).messages.create(model="arena-teacher", max_tokens=8, messages=user("hi"))
            assert refused.value.body["error"]["type"] == "authentication_error"
            with pytest.raises(anthropic.AuthenticationError):
                sdk(url, api_key=wrong).models.list()
        # this SDK sends the key as a bearer token; Anthropic's own header works as well
        body, version = {"model": "arena-teacher", "max_tokens": 8, "messages": user("hi")}, {"anthropic-version": "1"}
        assert post(url + "/messages", body, {**version, "x-api-key": "sk-ant-arena-right"})[0] == 200
        status, refused_body = post(url + "/messages", body, {**version, "x-api-key": "sk-ant-other"})
        assert status == 401 and "sk-ant-other" in refused_body["error"]["message"]
        # the OpenAI routes still take the key as a bearer token
        assert openai.OpenAI(base_url=url, api_key="sk-ant-arena-right", max_retries=0).models.list().data


def test_models_are_listed_in_anthropics_shape_to_anthropic_clients(served):
    client, url, _ = served
    models = client.models.list()
    assert [m.id for m in models.data] == ["arena-teacher", "arena-referee", "arena-judge", "arena-generator"]
    assert models.data[0].type == "model" and models.data[0].display_name == "Arena Teacher"
    assert models.data[0].created_at.year == 1970 and models.has_more is False
    assert models.first_id == "arena-teacher" and models.last_id == "arena-generator"
    page = client.models.list(limit=3)
    assert len(page.data) == 3 and page.has_more and [m.id for m in page] == [m.id for m in models.data]
    assert client.models.retrieve("arena-judge").id == "arena-judge"
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-oracle")
    # without the version header, the OpenAI shape as before
    assert openai.OpenAI(base_url=url, api_key="unused").models.retrieve("arena-judge").owned_by == "lion-arena"


# --- faults --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faulty() -> Iterator[dict[str, str]]:
    """A server per fault kind, every request failing, by their /v1 URLs."""
    with (serve_app(build_app(ServeOptions(fault_rate=1, fault_kinds=["429"], retry_after_s=2.5))) as u429,
          serve_app(build_app(ServeOptions(fault_rate=1, fault_kinds=["529"], retry_after_s=3))) as u529,
          serve_app(build_app(ServeOptions(fault_rate=1, fault_kinds=["500"]))) as u500,
          serve_app(build_app(ServeOptions(fault_rate=1, fault_kinds=["hang"], hang_s=5))) as uhang,
          serve_app(build_app(ServeOptions(fault_rate=1, fault_kinds=["truncated"]))) as utrunc,
          serve_app(build_app(ServeOptions(fault_rate=1, fault_kinds=["malformed"]))) as umal):
        yield {"429": u429, "529": u529, "500": u500, "hang": uhang, "truncated": utrunc, "malformed": umal}


def ask(url: str, **kwargs):
    return sdk(url, **kwargs).messages.create(model="arena-teacher", max_tokens=16, messages=user("hi"))


def test_429_and_529_carry_retry_after_to_the_sdks_exception(faulty):
    with pytest.raises(anthropic.RateLimitError) as limited:
        ask(faulty["429"])
    assert limited.value.response.headers["retry-after"] == "2.5"
    assert limited.value.body["error"]["type"] == "rate_limit_error"
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        ask(faulty["529"])
    assert overloaded.value.response.headers["retry-after"] == "3"
    assert overloaded.value.body["error"]["type"] == "overloaded_error"
    # a 529 drawn on the OpenAI route answers in OpenAI's shape
    with pytest.raises(openai.InternalServerError) as overloaded_openai:
        openai.OpenAI(base_url=faulty["529"], api_key="unused", max_retries=0).chat.completions.create(
            model="arena-teacher", messages=user("hi"))
    assert overloaded_openai.value.status_code == 529 and overloaded_openai.value.code == "overloaded"


def test_500_hang_truncated_and_malformed_fail_as_on_the_openai_route(faulty):
    with pytest.raises(anthropic.InternalServerError) as failed:
        ask(faulty["500"])
    assert failed.value.status_code == 500 and failed.value.body["error"]["type"] == "api_error"
    with pytest.raises(anthropic.APITimeoutError):
        ask(faulty["hang"], timeout=0.5)
    with pytest.raises(anthropic.APIConnectionError) as broken:
        ask(faulty["truncated"])
    assert type(broken.value) is anthropic.APIConnectionError
    outcomes = set()
    for _ in range(8):
        try:
            reply = ask(faulty["malformed"])
        except (json.JSONDecodeError, anthropic.APIResponseValidationError):
            outcomes.add("invalid json")
        else:
            assert reply.content == []
            outcomes.add("no content")
    assert outcomes == {"invalid json", "no content"}
    counted = stats(faulty["malformed"])
    assert counted["faults"]["malformed"] == 8 and counted["answered"] == 0


def test_the_async_client_on_aiohttp_gets_answers_and_faults_alike(served, faulty):
    """The transport a `backend: anthropic` role uses: AsyncAnthropic over aiohttp."""

    async def talk() -> tuple[str, str]:
        clients = [anthropic.AsyncAnthropic(base_url=url.removesuffix("/v1"), api_key="unused", max_retries=0,
                                            http_client=anthropic.DefaultAioHttpClient())
                   for url in (served[1], faulty["529"])]
        try:
            reply = await clients[0].messages.create(model="arena-teacher", max_tokens=16, messages=user("hi"))
            with pytest.raises(anthropic.OverloadedError) as overloaded:
                await clients[1].messages.create(model="arena-teacher", max_tokens=16, messages=user("hi"))
            return reply.stop_reason, overloaded.value.response.headers["retry-after"]
        finally:
            for client in clients:
                await client.close()

    assert asyncio.run(talk()) == ("end_turn", "3")


def test_the_cache_flags_are_checked_as_one_sentence():
    for args, flag in ((["--cache-min-tokens", "0"], "--cache-min-tokens"), (["--cache-ttl", "0"], "--cache-ttl")):
        result = CliRunner().invoke(cli, ["arena", "serve", *args])
        assert isinstance(result.exception, LionError) and str(result.exception).startswith(flag)


def test_529_is_drawn_and_counted_only_where_named(served, faulty):
    assert "529" not in ServeOptions().fault_kinds
    assert set(stats(served[1])["faults"]) == {"429", "500", "hang", "truncated", "malformed"}
    assert stats(faulty["529"])["faults"]["529"] > 0


# --- prompt caching ------------------------------------------------------------------------------


def cached_system(text: str, ttl: str | None = None) -> list[dict]:
    control = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    return [{"type": "text", "text": text, "cache_control": control}]


def test_a_marked_prefix_is_written_then_read_and_the_three_counts_add_up(served):
    client, url, _ = served
    before = stats(url)
    messages = user(TEACHER_PROMPT)
    whole = in_process("arena-teacher", [{"role": "system", "content": LONG_SYSTEM}, *messages],
                       Decoding(0.7, 1.0, 32)).usage.prompt_tokens
    usages = [client.messages.create(model="arena-teacher", max_tokens=32, messages=messages, extra_body=WARM,
                                     system=cached_system(LONG_SYSTEM)).usage for _ in range(2)]
    system_words = len(LONG_SYSTEM.split())
    assert (usages[0].cache_creation_input_tokens, usages[0].cache_read_input_tokens) == (system_words, 0)
    assert (usages[1].cache_creation_input_tokens, usages[1].cache_read_input_tokens) == (0, system_words)
    for u in usages:
        assert u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens == whole
        assert u.input_tokens == whole - system_words
    after = stats(url)
    assert (after["cache_writes"] - before["cache_writes"], after["cache_reads"] - before["cache_reads"]) == (1, 1)


def test_a_prefix_under_the_minimum_is_not_cached_and_a_longer_one_reads_the_shorter(served):
    client, _, _ = served
    short = client.messages.create(model="arena-teacher", max_tokens=8, system=cached_system("Be brief."),
                                   messages=user("What is 2 plus 2?"))
    assert (short.usage.cache_creation_input_tokens, short.usage.cache_read_input_tokens) == (0, 0)
    assert short.usage.input_tokens == len("Be brief. What is 2 plus 2?".split())
    tool = {**VERDICT_TOOL, "name": "record", "description": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}
    tool_words = len(json.dumps({k: tool[k] for k in ("name", "description", "input_schema")}, sort_keys=True).split())
    first = client.messages.create(model="arena-teacher", max_tokens=8, tools=[tool], messages=user("Hello there."))
    assert first.usage.cache_creation_input_tokens == tool_words and first.usage.input_tokens == 2
    # the same tool, then a marked system prompt: the tool's prefix is read, the rest up to the marker written
    second = client.messages.create(model="arena-teacher", max_tokens=8, tools=[tool], messages=user("Hello there."),
                                    system=cached_system(LONG_SYSTEM, "1h"))
    assert second.usage.cache_read_input_tokens == tool_words
    assert second.usage.cache_creation_input_tokens == len(LONG_SYSTEM.split())
    # the request's own cache_control marks its last block
    long_user = user(LONG_SYSTEM + " Now say hello.")
    marked = [client.messages.create(model="arena-teacher", max_tokens=8, messages=long_user,
                                     cache_control={"type": "ephemeral"}).usage for _ in range(2)]
    whole = len(long_user[0]["content"].split())
    assert [(u.input_tokens, u.cache_creation_input_tokens, u.cache_read_input_tokens) for u in marked] == [
        (0, whole, 0), (0, 0, whole)]
    with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks with cache_control"):
        client.messages.create(model="arena-teacher", max_tokens=8, messages=user("hi"),
                               system=[{"type": "text", "text": f"Rule {n}.", "cache_control": {"type": "ephemeral"}}
                                       for n in range(5)])


def test_a_cached_prefix_expires_unread_after_its_lifetime(served):
    client, _, app = served
    cache = app.state.prompt_cache
    original, now = cache.clock, [cache.clock()]
    cache.clock = lambda: now[0]
    try:
        system = cached_system(LONG_SYSTEM + " Answer in French.")

        def usage():
            reply = client.messages.create(model="arena-teacher", max_tokens=8, system=system, messages=user("Hi."))
            return reply.usage.cache_creation_input_tokens > 0, reply.usage.cache_read_input_tokens > 0

        assert usage() == (True, False)
        now[0] += 299  # read just before it expires, which keeps it alive another five minutes
        assert usage() == (False, True)
        now[0] += 299
        assert usage() == (False, True)
        now[0] += 301
        assert usage() == (True, False)
        system = cached_system(LONG_SYSTEM + " Answer in German.", "1h")
        assert usage() == (True, False)
        now[0] += 3599  # a "1h" marker lives twelve times as long
        assert usage() == (False, True)
    finally:
        cache.clock = original
