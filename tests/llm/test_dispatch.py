"""The dispatcher's policy, with a scripted model standing in for a backend's failures.

The HTTP path (real faults from a real server) is covered in test_openai_compat.py; here each
failure is scripted so that counts, waits and budgets can be checked exactly.
"""

import asyncio
import re
import threading
import time

import pytest

from lion.core import progress
from lion.core.chat import CallError, Completion, Decoding, Usage
from lion.core.config import Price
from lion.core.errors import LionError
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import (
    BudgetExceeded,
    Call,
    CallSettings,
    CallsFailed,
    Failed,
    Ledger,
    Limits,
    Retry,
    Role,
)


class Scripted:
    """Answers "echo: <prompt>"; `script[prompt]` lists errors to raise on its first attempts."""

    name = "scripted"

    def __init__(self, script=None, delay=0.0):
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.delay = delay
        self.usage = Usage(100, 50)
        self.attempts: dict[str, int] = {}
        self.in_flight = 0
        self.peak = 0

    async def complete(self, messages, decoding, sample=0):
        prompt = messages[-1]["content"]
        self.attempts[prompt] = self.attempts.get(prompt, 0) + 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            todo = self.script.get(prompt)
            if todo:
                raise todo.pop(0)
            return Completion(f"echo: {prompt}", "stop", self.usage)
        finally:
            self.in_flight -= 1

    async def aclose(self):
        pass


def calls(n, prefix="q"):
    return [Call([{"role": "user", "content": f"{prefix}{i}"}]) for i in range(n)]


@pytest.fixture
def make_role(tmp_path):
    loop = asyncio.new_event_loop()
    caches = []

    def make(model, cache=None, ledger=None, **settings):
        cache = cache or ResponseCache(tmp_path / "cache.sqlite")
        caches.append(cache)
        settings.setdefault("retry", Retry(max_attempts=4, backoff_s=0.01, backoff_max_s=0.05))
        return Role("teacher", model, Decoding(max_tokens=50), cache, "test", loop=loop, settings=CallSettings(**settings),
                    ledger=ledger)

    yield make
    for c in caches:
        c.close()
    loop.close()


def test_transient_failures_are_retried_and_each_answer_cached_once(make_role):
    flaky = CallError("HTTP 500: boom", retryable=True)
    model = Scripted({"q0": [flaky, flaky], "q3": [flaky]})
    role = make_role(model)
    out = role.run(calls(5), "t")
    assert [o.text for o in out] == [f"echo: q{i}" for i in range(5)]
    assert model.attempts == {"q0": 3, "q1": 1, "q2": 1, "q3": 2, "q4": 1}
    assert role.cache.spend()["total"]["calls"] == 5  # three retries, one paid answer per item
    assert role.run(calls(5), "again") == out and sum(model.attempts.values()) == 8  # all from the cache


def test_exhausted_calls_stop_the_stage_after_the_others_are_cached(make_role):
    model = Scripted({"q1": [CallError("HTTP 429: slow down", retryable=True)] * 4})
    role = make_role(model)
    with pytest.raises(CallsFailed, match=r"teacher: 1 of 3 calls failed after 4 attempts \(last reason: HTTP 429"):
        role.run(calls(3), "t")
    assert role.cache.spend()["total"]["calls"] == 2 and model.attempts["q1"] == 4
    out = role.run(calls(3), "retry")  # the script is spent: only q1 is asked again
    assert [o.text for o in out] == ["echo: q0", "echo: q1", "echo: q2"] and model.attempts == {"q0": 1, "q1": 5, "q2": 1}


def test_a_rejected_request_fails_its_item_without_retries(make_role, tmp_path):
    model = Scripted({"q0": [CallError("HTTP 400: prompt too long", retryable=False)]})
    log = tmp_path / "lion.log"
    with progress.recording(tmp_path / "progress.json", log):
        out = make_role(model).run(calls(2), "t")
    assert out[0] == Failed("HTTP 400: prompt too long", 1, False) and out[1].text == "echo: q1"
    assert model.attempts["q0"] == 1
    assert re.search(r"  t: 2/2 \(1 failed\) in ", log.read_text())  # the bar does not read as all well


def test_a_fatal_error_stops_everything_with_its_sentence(make_role):
    model = Scripted({"q0": [CallError("teacher: the key was refused", retryable=False, fatal=True)]}, delay=0.01)
    role = make_role(model, concurrency=1)
    with pytest.raises(LionError, match="^teacher: the key was refused.$"):
        role.run(calls(20), "t")
    assert sum(model.attempts.values()) < 20  # the calls queued behind it were never sent


def test_retry_after_is_honoured(make_role):
    model = Scripted({"q0": [CallError("HTTP 429", retryable=True, retry_after=0.3)]})
    role = make_role(model)
    start = time.monotonic()
    role.run(calls(1), "t")
    assert time.monotonic() - start >= 0.3


def test_a_hung_call_times_out_and_is_retried(make_role):
    class HangsOnce(Scripted):
        async def complete(self, messages, decoding, sample=0):
            if self.attempts.get("q0", 0) == 0:
                self.attempts["q0"] = 1
                await asyncio.sleep(60)
            return await super().complete(messages, decoding, sample)

    model = HangsOnce()
    role = make_role(model, retry=Retry(max_attempts=3, backoff_s=0.01, backoff_max_s=0.01, timeout_s=0.2))
    start = time.monotonic()
    assert role.run(calls(1), "t")[0].text == "echo: q0"
    assert time.monotonic() - start < 30 and model.attempts == {"q0": 2}  # one retry, not the 60 s hang


def test_concurrency_limit(make_role):
    model = Scripted(delay=0.02)
    make_role(model, concurrency=3).run(calls(12), "t")
    assert model.peak == 3


def test_requests_per_minute_limit(make_role):
    model = Scripted()
    start = time.monotonic()
    # 600 per minute: a full bucket lets 60 go at once (six seconds' worth), then 10 per second
    make_role(model, limits=Limits.per_minute(600, None)).run(calls(75), "t")
    assert time.monotonic() - start >= 1.3


def test_cost_is_counted_and_the_budget_stops_before_it_is_passed(make_role, tmp_path):
    price = Price(input_per_mtok=1000.0, output_per_mtok=2000.0)  # 100 in + 50 out = $0.2 per call
    cache = ResponseCache(tmp_path / "budget.sqlite")
    # the prompt "q0" is about 1 token at four characters a token, but the model bills 100: after
    # the first answer the bound is 1.25 * 100 + 32 = 157 tokens, and a call's worst case $0.257
    role = make_role(Scripted(), price=price, ledger=Ledger(cache, 1.0), cache=cache, concurrency=1)
    with pytest.raises(BudgetExceeded, match=r"budget: \$0\.80 spent and the next teacher call could cost more than "
                                             r"the \$0\.20 left of budget.max_usd \(\$1\.00\): up to \$0\.26;"):
        role.run(calls(10), "t")
    assert cache.spent_usd() == pytest.approx(0.8)
    usage = cache.usage()
    assert usage[0]["calls"] == 4 and usage[0]["cost_usd"] == pytest.approx(0.8)
    # a raised budget goes on where it stopped, paying only for what is missing
    role.ledger = Ledger(cache, 2.5)
    assert len(role.run(calls(10), "t")) == 10 and cache.spent_usd() == pytest.approx(2.0)


class Templated(Scripted):
    """Bills what a chat template adds, as servers do: 40 tokens for any prompt beyond its text."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spans: list[tuple[float, float]] = []  # (sent, answered) of every call, in the order sent

    async def complete(self, messages, decoding, sample=0):
        sent = time.monotonic()
        out = await super().complete(messages, decoding, sample)
        self.spans.append((sent, time.monotonic()))
        text = sum(len(m["content"]) for m in messages) // 4
        return Completion(out.text, out.finish_reason, Usage(text + 40, 1))


def spent_by_role(cache: ResponseCache) -> float:
    return sum(u["cost_usd"] for u in cache.usage())


@pytest.mark.parametrize("concurrency", [1, 16])
def test_a_server_that_bills_a_template_cannot_pass_the_budget(make_role, tmp_path, concurrency):
    # input only: the answers' cost is known (max_tokens), so all that can go wrong is the prompt
    price = Price(input_per_mtok=1000.0, output_per_mtok=0.0)
    cache = ResponseCache(tmp_path / "budget.sqlite")
    model = Templated(delay=0.005)
    role = make_role(model, price=price, ledger=Ledger(cache, 2.0), cache=cache, concurrency=concurrency)
    with pytest.raises(BudgetExceeded) as stopped:
        role.run(calls(200, prefix="a question of a few words, "), "t")
    # each call bills 47 prompt tokens, $0.047: at four characters a token, 7 were reserved
    assert 1.9 < cache.spent_usd() <= 2.0 and spent_by_role(cache) == pytest.approx(cache.spent_usd())
    spent, left, most, worst = (float(x) for x in re.findall(r"\$([\d.]+)", str(stopped.value))[:4])
    assert (spent, most) == (round(cache.spent_usd(), 2), 2.0) and left == pytest.approx(most - spent, abs=0.011)
    assert worst > left  # the sentence is true: the refused call could indeed cost more than what is left


def test_the_first_calls_to_an_unknown_server_go_one_at_a_time_then_together(make_role, tmp_path):
    price = Price(input_per_mtok=1000.0, output_per_mtok=0.0)
    cache = ResponseCache(tmp_path / "budget.sqlite")
    model = Templated(delay=0.02)
    role = make_role(model, price=price, ledger=Ledger(cache, 100.0), cache=cache, concurrency=8)
    role.run(calls(16), "first")
    first, *others = sorted(model.spans)
    assert all(sent >= first[1] for sent, _ in others)  # nothing else was sent before the first answer
    assert model.peak == 8  # and then the meter had learned: no reason to wait

    # a resumed run learns from the cache's rows, so its calls go together from the start
    model = Templated(delay=0.02)
    again = make_role(model, price=price, ledger=Ledger(cache, 100.0), cache=cache, concurrency=8)
    meter = again.ledger.meter("test", "scripted")
    assert meter.learned and meter.bound(7) >= 47
    again.run(calls(16, prefix="new "), "resumed")
    assert model.peak == 8


def test_calls_wait_for_room_rather_than_stop_while_others_are_in_flight(make_role, tmp_path):
    # a worst case of $0.1 each (50 answer tokens at 2000), $0.0001 billed: one fits the budget at a time,
    # yet all of them fit the budget one after the other
    price = Price(input_per_mtok=0.0, output_per_mtok=2000.0)
    cache = ResponseCache(tmp_path / "budget.sqlite")
    model = Scripted(delay=0.01)
    model.usage = Usage(100, 0)
    role = make_role(model, price=price, ledger=Ledger(cache, 0.15), cache=cache, concurrency=8)
    assert len(role.run(calls(12), "t")) == 12
    assert model.peak == 1 and cache.spent_usd() == 0


def test_concurrent_reservations_never_pass_the_budget_together(tmp_path):
    cache = ResponseCache(tmp_path / "ledger.sqlite")
    ledger = Ledger(cache, 10.0)
    granted: list[float] = []
    lock = threading.Lock()

    def grab(n: int) -> None:
        for i in range(200):
            worst = 0.01 + (n * 7 + i) % 13 / 100
            if ledger.reserve(worst):
                with lock:
                    granted.append(worst)

    threads = [threading.Thread(target=grab, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 9.8 < sum(granted) <= 10.0 + 1e-9  # all held at once: nothing settled
    for worst in granted:  # each call billed half its worst case: room for more
        ledger.settle(worst, worst / 2)
    assert ledger.spent == pytest.approx(sum(granted) / 2)

    async def hold_many() -> list[float | None]:
        async def one(i: int) -> float | None:
            worst = await ledger.hold(lambda: 0.25)
            if worst is not None:
                in_flight.append(worst)
                peak.append(sum(in_flight) + ledger.spent)
                await asyncio.sleep(0.001 * (i % 3))
                in_flight.remove(worst)
                ledger.settle(worst, 0.05)
            return worst

        return await asyncio.gather(*(one(i) for i in range(400)))

    in_flight: list[float] = []
    peak: list[float] = []
    held = asyncio.run(hold_many())
    assert max(peak) <= 10.0 + 1e-9
    assert held.count(None) > 0 and ledger.spent <= 10.0  # the last ones were refused, not squeezed in
    assert 10.0 - ledger.spent < 0.25  # and only once even one more worst case could not fit
    cache.close()


def test_identical_calls_in_one_run_are_asked_once(make_role):
    model = Scripted()
    same = calls(3) + calls(3)
    out = make_role(model).run(same, "t")
    assert [o.text for o in out] == [f"echo: q{i}" for i in (0, 1, 2, 0, 1, 2)]
    assert model.attempts == {"q0": 1, "q1": 1, "q2": 1}
