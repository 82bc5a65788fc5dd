"""The anthropic backend's translation of requests, replies, batch results and prices.

What goes over the wire is tested against the arena's Anthropic side in tests/loop and
tests/llm/test_anthropic_server.py; here are the parts that need no server: the request a call
becomes, how every kind of reply and batch result is read, and what the tokens cost.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lion.core.chat import Decoding, Usage
from lion.core.config import Price, RoleConfig, load_config
from lion.core.errors import LionError
from lion.llm.backends.anthropic_native import AnthropicChatModel, _state
from lion.llm.pricing import at_most, batch_price, cache_min_tokens, price_of, usage_cost
from lion.llm.roles import check_endpoints

KEY = "sk-ant-api03-canary-0123456789"


@pytest.fixture
def model(monkeypatch) -> AnthropicChatModel:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return AnthropicChatModel("referee", RoleConfig(backend="anthropic", model="claude-sonnet-4-5"))


def test_the_system_message_is_its_own_field_marked_for_the_cache_and_a_schema_is_a_forced_tool(model):
    messages = [{"role": "system", "content": "Be fair."}, {"role": "user", "content": "Compare."}]
    body = model.request_body(messages, Decoding(0.2, 1.0, 64, json_schema='{"type": "object"}'))
    assert body["system"] == [{"type": "text", "text": "Be fair.", "cache_control": {"type": "ephemeral"}}]
    assert body["messages"] == [{"role": "user", "content": "Compare."}]
    assert body["tools"][0]["input_schema"] == {"type": "object"}
    assert body["tool_choice"] == {"type": "tool", "name": body["tools"][0]["name"]}
    assert "top_p" not in body and body["temperature"] == 0.2 and body["max_tokens"] == 64
    plain = model.request_body([{"role": "user", "content": "Hi"}], Decoding(0.7, 0.9, 8))
    assert "system" not in plain and "tools" not in plain and plain["top_p"] == 0.9


def test_a_reply_is_read_with_its_stop_reason_and_every_kind_of_prompt_token(model):
    usage = {"input_tokens": 7, "output_tokens": 5, "cache_creation_input_tokens": 30, "cache_read_input_tokens": 0}
    text = model.read_reply({"content": [{"type": "text", "text": "Paris."}], "stop_reason": "max_tokens", "usage": usage}, [])
    assert (text.text, text.finish_reason) == ("Paris.", "length")
    assert text.usage == Usage(37, 5, cache_read_tokens=0, cache_write_tokens=30)
    tool = model.read_reply({"content": [{"type": "tool_use", "id": "t", "name": "reply", "input": {"a": 8, "b": 3}}],
                             "stop_reason": "tool_use", "usage": usage}, [])
    assert json.loads(tool.text) == {"a": 8, "b": 3} and tool.finish_reason == "stop"
    no_usage = model.read_reply({"content": [{"type": "text", "text": "x" * 40}], "stop_reason": "end_turn"},
                                [{"role": "user", "content": "y" * 80}])
    assert no_usage.usage == Usage(20, 10)  # a gateway that reports none: the estimate
    with pytest.raises(Exception, match="declined") as refused:
        model.read_reply({"content": [], "stop_reason": "refusal"}, [])
    assert not refused.value.retryable
    with pytest.raises(Exception, match="no content") as broken:
        model.read_reply({"type": "message"}, [])
    assert broken.value.retryable


@pytest.mark.parametrize("result, retryable, fatal", [
    ({"type": "errored", "error": {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}}, True, False),
    ({"type": "errored", "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}},
     False, False),
    ({"type": "errored", "error": {"type": "error", "error": {"type": "authentication_error", "message": KEY}}},
     False, True),
    ({"type": "canceled"}, True, False),
    ({"type": "expired"}, True, False),
])
def test_each_batch_result_type_is_sent_again_failed_or_stops_the_run(model, result, retryable, fatal):
    key, outcome = model.read_result({"custom_id": "k", "result": result})
    assert key == "k" and (outcome.retryable, outcome.fatal) == (retryable, fatal)
    assert KEY not in outcome.reason


def test_a_batch_result_that_succeeded_is_an_answer(model):
    message = {"content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
               "usage": {"input_tokens": 3, "output_tokens": 1}}
    key, answer = model.read_result({"custom_id": "k", "result": {"type": "succeeded", "message": message}})
    assert key == "k" and answer.text == "ok" and answer.usage == Usage(3, 1)
    assert model.read_result({"result": {"type": "canceled"}})[0] is None


def test_a_message_batch_reads_as_the_ledger_follows_it():
    counts = {"processing": 0, "succeeded": 3, "errored": 1, "canceled": 0, "expired": 2}
    base = {"id": "msgbatch_1", "created_at": "2026-12-07T00:00:00Z", "request_counts": counts}
    assert _state({**base, "processing_status": "ended"}).status == "expired"
    assert _state({**base, "processing_status": "ended", "cancel_initiated_at": "2026-12-07T00:01:00Z"}).status == "cancelled"
    running = _state({**base, "processing_status": "in_progress"})
    assert (running.status, running.done, running.failed, running.size, running.input_id) == ("in_progress", 3, 1, 6, None)
    assert running.created == 1796601600.0
    assert _state({**base, "processing_status": "canceling"}).status == "cancelling"


def test_a_missing_key_is_refused_naming_the_role_and_the_variable(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(LionError, match=r"^teacher \(anthropic reads ANTHROPIC_API_KEY unless api_key_env names another\): "
                                        r"the environment variable ANTHROPIC_API_KEY is not set"):
        AnthropicChatModel("teacher", RoleConfig(backend="anthropic", model="claude-sonnet-4-5"))


def test_a_temperature_the_api_refuses_is_refused_before_any_request(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    rc = RoleConfig(backend="anthropic", model="m", base_url="http://127.0.0.1:9", decoding={"temperature": 1.3})
    with pytest.raises(LionError, match=r"^judge.decoding.temperature: 1.3 is more than Anthropic's API takes \(0 to 1\)"):
        asyncio.run(AnthropicChatModel("judge", rc).check())


def test_claude_prices_are_built_in_for_listed_models_and_their_dated_snapshots_only():
    def price(model: str) -> Price | None:
        return price_of(RoleConfig(backend="anthropic", model=model))

    assert price("claude-sonnet-4-5-20250929") == Price(input_per_mtok=3.0, output_per_mtok=15.0)
    assert price("claude-opus-4-20250514") == Price(input_per_mtok=15.0, output_per_mtok=75.0)
    assert price("claude-opus-4-6") == Price(input_per_mtok=5.0, output_per_mtok=25.0)
    assert price("claude-opus-4-9") is None  # a new model of a listed family is not guessed
    assert price_of(RoleConfig(backend="openai", model="gpt-4o-mini-2024-07-18")).input_per_mtok == 0.15
    assert price_of(RoleConfig(backend="openai", model="gpt-4o-audio-preview")) is None
    assert cache_min_tokens("claude-haiku-4-5-20251001") == 4096 and cache_min_tokens("claude-new") == 1024


def test_cache_writes_and_reads_are_billed_at_their_own_prices_online_and_in_batches():
    price = Price(input_per_mtok=4.0, output_per_mtok=20.0)
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=100_000, cache_read_tokens=500_000, cache_write_tokens=200_000)
    # 300k plain at $4, 200k written at $5, 500k read at $0.40, 100k out at $20
    assert usage_cost(price, usage) == pytest.approx(1.2 + 1.0 + 0.2 + 2.0)
    assert usage_cost(batch_price(price), usage) == pytest.approx((1.2 + 1.0 + 0.2 + 2.0) / 2)
    own = Price(input_per_mtok=4.0, output_per_mtok=20.0, cache_write_per_mtok=8.0, cache_read_per_mtok=1.0)
    assert usage_cost(own, usage) == pytest.approx(1.2 + 1.6 + 0.5 + 2.0)
    assert at_most(price, True).input_per_mtok == 5.0 and at_most(price, False) == price


def test_the_shipped_claude_config_without_its_key_is_refused_before_any_request(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    cfg = load_config(Path(__file__).parents[2] / "configs" / "anthropic.yaml")
    with pytest.raises(LionError, match=r"^teacher.api_key_env: the environment variable ANTHROPIC_API_KEY is not set; "
                                        r"export the API key there\.$"):
        check_endpoints(cfg)
