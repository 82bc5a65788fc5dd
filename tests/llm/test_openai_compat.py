"""The OpenAI-compatible backend against a real HTTP server: the arena served on localhost."""

import asyncio
import os

import pytest

from arena_server import arena_server
from lion.arena import ArenaChatModel, seed_set
from lion.core.chat import Decoding
from lion.core.config import ArenaOptions, RoleConfig
from lion.core.errors import LionError
from lion.core.prompts import render
from lion.llm.backends.openai_compat import OpenAIChatModel
from lion.llm.backends.remote import retry_after_seconds
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import Call, CallSettings, Role
from lion.llm.judging import PairItem, judge_pairs
from lion.llm.pricing import price_of
from lion.llm.roles import retry_policy
from local_server import check_role, free_port


def teacher_calls(n: int) -> list[Call]:
    return [Call([{"role": "user", "content": f"What is {i} plus {i + 1}?"}], sample=i % 3) for i in range(n)]


def make_role(url: str, cache: ResponseCache, loop, **fields) -> Role:
    rc = RoleConfig(backend="openai", model="arena-teacher", base_url=url, timeout_s=1.0, backoff_s=0.02,
                    backoff_max_s=0.2, max_attempts=8, concurrency=16, **fields)
    return Role("teacher", OpenAIChatModel("teacher", rc), rc.decoding.params(), cache, rc.endpoint(),
                loop=loop, settings=CallSettings(rc.concurrency, retry_policy(rc), price=price_of(rc)))


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_every_fault_is_survived_and_every_item_answered_exactly_once(tmp_path, loop):
    flags = ["--fault-rate", "0.2", "--retry-after", "0.05", "--hang", "30"]
    with arena_server(*flags) as server:
        cache = ResponseCache(tmp_path / "cache.sqlite")
        role = make_role(server.url, cache, loop)
        calls = teacher_calls(60)
        out = role.run(calls, "teacher")
        stats = server.stats()
        assert set(stats["faults"]) == {"429", "500", "hang", "truncated", "malformed"}
        assert stats["answered"] == stats["answered_distinct"] == 60 and stats["answered_twice"] == 0
        # each fault cost one more request and nothing else; each answer was paid for once
        assert stats["requests"] == 60 + sum(stats["faults"].values()) and cache.spend()["total"]["calls"] == 60
        # the answers are the arena's own, as if it had been called in-process
        direct = ArenaChatModel("arena-teacher", ArenaOptions())
        for call, got in zip(calls, out):
            want = loop.run_until_complete(direct.complete(call.messages, role.decoding, call.sample))
            assert got.text == want.text and got.usage == want.usage
        # asked again, nothing goes over the wire
        again = make_role(server.url, cache, loop)
        assert again.run(calls, "teacher") == out and server.stats()["requests"] == stats["requests"]
        loop.run_until_complete(role.model.aclose())
        loop.run_until_complete(again.model.aclose())
        cache.close()


def test_usage_and_cost_are_recorded_per_role_and_stage(tmp_path, loop):
    with arena_server() as server:
        cache = ResponseCache(tmp_path / "cache.sqlite")
        role = make_role(server.url, cache, loop, price={"input_per_mtok": 1.0, "output_per_mtok": 2.0})
        role.stage = "1.imitation"
        out = role.run(teacher_calls(5), "teacher")
        [row] = cache.usage()
        prompt = sum(o.usage.prompt_tokens for o in out)
        done = sum(o.usage.completion_tokens for o in out)
        assert row == {"role": "teacher", "stage": "1.imitation", "calls": 5, "prompt_tokens": prompt,
                       "completion_tokens": done, "cache_read_tokens": 0, "cost_usd": round((prompt * 1.0 + done * 2.0) / 1e6, 6)}
        loop.run_until_complete(role.model.aclose())
        cache.close()


def _check(url: str | None, model: str = "arena-teacher", **fields) -> None:
    check_role("referee", url, model, timeout_s=2.0, **fields)


def test_fail_fast_with_one_sentence(monkeypatch):
    monkeypatch.delenv("LION_TEST_MISSING_KEY", raising=False)
    with pytest.raises(LionError, match=r"^referee.api_key_env: the environment variable LION_TEST_MISSING_KEY is not set"):
        _check("http://127.0.0.1:9/v1", api_key_env="LION_TEST_MISSING_KEY")
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LionError, match=rf"^referee: cannot reach {url}: connection refused; is the server up"):
        _check(url)
    with arena_server() as server:
        _check(server.url)
        # not listed, so asked for one token; the server's own refusal is the reason given
        with pytest.raises(LionError, match=r"answered 404 \(unknown model or wrong base_url\): The model 'gpt-5' does not "
                                            r"exist \(it lists: arena-generator, arena-judge"):
            _check(server.url, model="gpt-5")


def test_the_key_never_shows_in_an_error(monkeypatch):
    secret = "sk-test-" + os.urandom(12).hex()
    monkeypatch.setenv("LION_TEST_SERVER_KEY", secret)
    monkeypatch.setenv("LION_TEST_CLIENT_KEY", secret[::-1])
    with arena_server("--api-key-env", "LION_TEST_SERVER_KEY") as server:
        monkeypatch.setenv("LION_TEST_CLIENT_KEY", secret)
        _check(server.url, api_key_env="LION_TEST_CLIENT_KEY")
        wrong = "sk-wrong-" + os.urandom(12).hex()
        monkeypatch.setenv("LION_TEST_CLIENT_KEY", wrong)
        with pytest.raises(LionError, match="refused the API key from LION_TEST_CLIENT_KEY") as e:
            _check(server.url, api_key_env="LION_TEST_CLIENT_KEY")
        assert secret not in str(e.value) and wrong not in str(e.value)
        assert wrong[:12] not in str(e.value)
        # the server echoes the key it got; one of no known shape (an Azure-style hex key) is blanked too
        plain = os.urandom(16).hex()
        monkeypatch.setenv("LION_TEST_CLIENT_KEY", plain)
        with pytest.raises(LionError, match=r"Incorrect API key provided: \*\*\*") as e:
            _check(server.url, api_key_env="LION_TEST_CLIENT_KEY")
        assert plain[:8] not in str(e.value)


def test_retry_after_header_forms():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert retry_after_seconds({}) is None


def test_auto_structured_output_falls_back_to_text_where_the_server_refuses_it(tmp_path, loop):
    teacher = ArenaChatModel("arena-teacher", ArenaOptions())
    questions = seed_set(6, 0)
    right = [loop.run_until_complete(teacher.complete([{"role": "user", "content": render("teacher", instruction=q, input=x)}],
                                                      Decoding(temperature=0))).text for q, x in questions]
    items = [PairItem(f"p{i}", q, x, a, "I would rather not say.") for i, ((q, x), a) in enumerate(zip(questions, right))]
    for flags, mode in ((), "json"), (("--no-structured",), "text"):
        with arena_server(*flags) as server:
            cache = ResponseCache(tmp_path / f"{mode}.sqlite")
            rc = RoleConfig(backend="openai", model="arena-referee", base_url=server.url, structured="auto")
            role = Role("referee", OpenAIChatModel("referee", rc), rc.decoding.params(), cache, rc.endpoint(),
                        loop=loop, settings=CallSettings(retry=retry_policy(rc)))
            judged = judge_pairs(role, "referee", items, rc, "referee")
            assert judged.mode == mode and all(v.error is None for v in judged.verdicts)
            assert bool(judged.notes) == (mode == "text")
            assert all(v.a_score > v.b_score for v in judged.verdicts)  # a right answer beats an evasion
            loop.run_until_complete(role.model.aclose())
            cache.close()
