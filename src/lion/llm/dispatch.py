"""Runs a stage's calls to one role concurrently: cached, rate-limited, retried, budgeted.

Each answer is written to the cache the moment it arrives, before anything uses it, so a kill
at any point loses at most the calls in flight, and a repeated request is never paid twice.

What a call may do is decided here, for every backend alike:
  - at most `concurrency` calls of a role in flight, and the endpoint's requests and tokens
    per minute shared by every role that uses it;
  - a call that fails in a way that may pass (429, 5xx, timeout, broken reply) is tried again
    after a full-jitter exponential back-off, or after the server's Retry-After when longer;
  - after `max_attempts` tries the item is *failed*, with its reason: the stage ends with
    `CallsFailed` once every other call is done and cached, so running the same command again
    asks only for the failed ones. A request the server rejects for itself (HTTP 400) is
    returned as `Failed` at once, for the stage to record and leave out;
  - before a call starts, its worst-case cost is reserved against `budget.max_usd` (see
    `Ledger`); a call that would pass the budget is not started and the stage ends with
    `BudgetExceeded`.

A call's worst case is its prompt as the server will bill it plus `max_tokens` of answer. The
prompt is the model's own count where it can count one (`CountsPromptTokens`: its tokenizer
and chat template are at hand), else a bound learned from the usage the endpoint reports
(`PromptMeter`), kept per (endpoint, model) and learned again from the cache on resume.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from lion.core.chat import (
    CallError,
    ChatModel,
    Completion,
    CountsPromptTokens,
    Decoding,
    Message,
    estimate_tokens,
)
from lion.core.config import BatchSettings, Price
from lion.core.errors import LionError
from lion.core.progress import bar
from lion.llm.batches import BatchLedger, BatchSender, Request
from lion.llm.cache import ResponseCache, request_key
from lion.llm.pricing import PromptMeter, at_most, batch_price, cost_usd, usage_cost

_MAX_RETRY_AFTER_S = 600.0
_WINDOW_S = 6.0


@dataclass(frozen=True)
class Call:
    messages: list[Message]
    sample: int = 0
    json_schema: str | None = None  # ask for structured output following this schema (JSON text)


@dataclass(frozen=True)
class Failed:
    """An item whose call did not produce an answer; never an empty answer in disguise."""

    reason: str
    attempts: int
    retryable: bool = False  # True: it may pass if asked again later


Result = Completion | Failed


class CallsFailed(LionError):
    """Some calls failed after every allowed attempt; every other answer is cached."""


class BudgetExceeded(LionError):
    """The next call would have passed `budget.max_usd`."""


class Ledger:
    """The run's spend against its budget, and what each endpoint bills for a prompt; shared by all roles.

    Spend already made is the cache's sum (exact across resumes). Each call in flight holds a
    reservation of its worst case, which its billed cost replaces when the answer comes. A
    call whose worst case does not fit beside what is spent and reserved waits for the calls in
    flight to settle (most cost far less than their worst case) and is refused only when it
    would not fit with none in flight. So calls running together never pass the budget, however
    many there are, and a refusal means the budget is spent up to that call's worst case.
    Reservations are taken under a lock, so a ledger may also be shared across threads
    (`reserve`, `settle`); waiting for room (`hold`) is for the roles' event loop.

    The prompt meters (`PromptMeter`, per endpoint and model) start from what the cache's rows
    were billed, so a resumed run does not start from the generous first guess again.
    """

    def __init__(self, cache: ResponseCache, max_usd: float | None):
        self.max_usd = max_usd
        self._spent = cache.spent_usd()
        self._reserved = 0.0
        self._open = 0  # reservations held
        self._lock = threading.Lock()
        self._settled: asyncio.Event | None = None  # set at the next settlement, for calls waiting for room
        self._meters: dict[tuple[str, str], PromptMeter] = {}
        self._first_calls: dict[tuple[str, str], tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}
        for row in cache.prompt_billing():  # one row per role: several may share an endpoint's model
            self.meter(row["endpoint"], row["model"]).include(row["max_ratio"], row["max_excess"])

    @property
    def spent(self) -> float:
        return self._spent

    @property
    def left(self) -> float | None:
        """What is left of the budget, never below zero; None without a budget."""
        return None if self.max_usd is None else max(0.0, self.max_usd - self._spent)

    def meter(self, endpoint: str, model: str) -> PromptMeter:
        """What this model at this endpoint has billed for prompts, shared by every role that calls it."""
        return self._meters.setdefault((endpoint, model), PromptMeter())

    def first_call(self, endpoint: str, model: str) -> asyncio.Lock:
        """The lock that sends an endpoint's calls one at a time until its meter has learned."""
        loop = asyncio.get_running_loop()
        held = self._first_calls.get((endpoint, model))
        if held is None or held[0] is not loop:
            held = self._first_calls[(endpoint, model)] = (loop, asyncio.Lock())
        return held[1]

    def _fits(self, worst: float) -> bool:
        return worst <= 0 or self.max_usd is None or self._spent + self._reserved + worst <= self.max_usd

    def _take(self, worst: float) -> float:
        self._reserved += worst
        self._open += 1
        return worst

    def reserve(self, worst: float) -> bool:
        """Reserve `worst` now if it fits beside what is spent and reserved; nothing waits."""
        with self._lock:
            if not self._fits(worst):
                return False
            self._take(worst)
            return True

    async def hold(self, worst: Callable[[], float]) -> float | None:
        """Reserve a call's worst case as soon as it fits; None when it would not fit even with
        no call in flight. `worst` is asked again after each wait, as the prompt meters learn."""
        while True:
            with self._lock:
                cost = worst()
                if self._fits(cost):
                    return self._take(cost)
                if self._open == 0:
                    return None
                if self._settled is None:
                    self._settled = asyncio.Event()
                settled = self._settled
            await settled.wait()

    def settle(self, reserved: float, actual: float) -> None:
        """A call is over: its reservation goes and its billed cost (zero if it failed) is spent."""
        with self._lock:
            self._open -= 1
            self._reserved = self._reserved - reserved if self._open else 0.0  # no drift once all are settled
            self._spent += actual
            settled, self._settled = self._settled, None
        if settled is not None:
            settled.set()


@dataclass
class Limits:
    """An endpoint's shared rate limits; None where the provider sets none."""

    rpm: AsyncLimiter | None = None
    tpm: AsyncLimiter | None = None

    async def acquire(self, tokens: int) -> None:
        if self.rpm is not None:
            await self.rpm.acquire()
        if self.tpm is not None:
            await self.tpm.acquire(min(tokens, self.tpm.max_rate))

    @classmethod
    def per_minute(cls, rpm: int | None, tpm: int | None) -> Limits:
        return cls(_smooth(rpm), _smooth(tpm))


def _smooth(per_minute: int | None) -> AsyncLimiter | None:
    """A per-minute allowance as a bucket refilled over six seconds.

    A full minute's bucket would let the whole allowance out in the first second, which
    providers that enforce their limits over shorter windows answer with 429s.
    """
    if not per_minute:
        return None
    window = max(_WINDOW_S, 60.0 / per_minute)  # at least one request fits the bucket
    return AsyncLimiter(per_minute * window / 60.0, window)


@dataclass(frozen=True)
class Retry:
    max_attempts: int = 6
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    timeout_s: float | None = None  # None: the backend bounds its own time (local models)


@dataclass(frozen=True)
class CallSettings:
    """How a role's calls go out, as its config sets them: what may be in flight, how failures
    are retried, the endpoint's shared rate limits, what a call costs, and, in `mode: batch`,
    how it is sent through the provider's Batches API (without `batch`, each call is a request
    of its own)."""

    concurrency: int = 16
    retry: Retry = Retry()
    limits: Limits = field(default_factory=Limits)
    price: Price | None = field(default_factory=Price)  # free unless set; None: no price is known
    batch: BatchSettings | None = None
    caches_prompts: bool = False  # the backend marks system messages for the provider's cache, which bills writes dearer


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Collect garbage less often while thousands of calls are in flight.

    Every in-flight call holds a few hundred short-lived objects, and the process also holds
    torch's and transformers' millions of long-lived ones; the collector's default pace spent
    about a sixth of the client's CPU re-scanning them (measured in benchmarks/dispatch.py).
    Objects alive before the dispatch are frozen out of the scans, and young collections
    wait for ten times as many allocations; both settings are restored afterwards.
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(old[0] * 10, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


class _Stop(Exception):
    """Raised inside a call to stop it before it is sent: the stage is stopping (see `_Stopping`)."""


@dataclass
class _Stopping:
    """Why a stage's calls stopped before every one was sent, shared by all of them.

    A fatal error stops it because every later call would fail the same way; the budget stops
    it when a call's worst case would not fit even with no call in flight (`budget` is that
    worst case). The first reason of each kind is the one kept, and `Role.run` raises the
    fatal error before the budget's.
    """

    fatal: CallError | None = None
    budget: float | None = None

    def fail(self, error: CallError) -> None:
        if self.fatal is None:
            self.fatal = error

    def over_budget(self, worst: float) -> None:
        if self.budget is None:
            self.budget = worst

    def check(self) -> None:
        """Raise `_Stop` once the stage is stopping, so that a call not yet sent never is."""
        if self.fatal is not None or self.budget is not None:
            raise _Stop


@dataclass
class _Prompt:
    """A request's prompt as the budget sees it."""

    estimate: int  # four characters a token, summed over the messages: what a meter scales
    counted: int | None = None  # the model's own count, chat template included, once it has counted


class Role:
    """A chat model bound to its decoding, cache, limits, retry policy, price and budget."""

    def __init__(
        self,
        name: str,
        model: ChatModel,
        decoding: Decoding,
        cache: ResponseCache,
        endpoint: str,
        *,
        loop: asyncio.AbstractEventLoop,
        settings: CallSettings | None = None,
        ledger: Ledger | None = None,
        batches: BatchLedger | None = None,
    ):
        """A role in `mode: batch` (`settings.batch`) records its batches in `batches` (see
        lion.llm.batches); `ledger` is the run's budget, shared by every role."""
        self.name = name
        self.model = model
        self.decoding = decoding
        self.cache = cache
        self.endpoint = endpoint
        self.loop = loop
        self.settings = settings or CallSettings()
        self.ledger = ledger or Ledger(cache, None)
        self.batches = batches
        self.stage = ""
        self._bar_start = 0.0  # the ledger's spend when the running bar began

    @property
    def price(self) -> Price | None:
        """What the role's calls cost; None where no price is known, and then none is counted."""
        return self.settings.price

    def decoding_for(self, call: Call) -> Decoding:
        return replace(self.decoding, json_schema=call.json_schema) if call.json_schema else self.decoding

    def key(self, call: Call) -> str:
        return request_key(
            {
                "endpoint": self.endpoint,
                "model": self.model.name,
                "messages": call.messages,
                "decoding": self.decoding_for(call).identity(),
                "sample": call.sample,
            }
        )

    def _worst_cost(self, prompt_tokens: int, messages: list[Message], price: Price | None = None) -> float:
        """A call's worst case: the whole prompt at the dearest price it may be billed at (the
        cache-write price where the backend marks its system message for the provider's cache),
        and `max_tokens` of answer."""
        price = price or self.price
        if not price:
            return 0.0
        writes = self.settings.caches_prompts and any(m["role"] == "system" for m in messages)
        return cost_usd(at_most(price, writes), prompt_tokens, self.decoding.max_tokens)

    def _meter(self) -> PromptMeter:
        return self.ledger.meter(self.endpoint, self.model.name)

    def _prompt_bound(self, prompt: _Prompt) -> int:
        """The most prompt tokens the call can be billed for, as far as is known now."""
        return prompt.counted if prompt.counted is not None else self._meter().bound(prompt.estimate)

    async def _count(self, call: Call, prompt: _Prompt) -> None:
        """Have a model that can count the prompt count it, once per request. Counted inside the
        concurrency limit, so thousands of requests do not queue their counts ahead of the answers."""
        if prompt.counted is not None or not isinstance(self.model, CountsPromptTokens):
            return
        try:
            prompt.counted = await self.model.count_prompt_tokens(call.messages)
        except LionError as e:  # the tokenizer cannot be had: no call to this model could be sent
            raise CallError(str(e), retryable=False, fatal=True) from None

    def _one_at_a_time(self, prompt: _Prompt) -> bool:
        """Whether this call must wait for the endpoint's other calls: its prompt can only be
        guessed, nothing it billed is known yet, and a budget counts what it costs. The first
        answer teaches the meter, and the calls after it go out together again; sending them
        all on the first guess would let a server that bills more than it pass the budget by
        `concurrency` calls instead of one."""
        return (
            prompt.counted is None and not self._meter().learned and self.ledger.max_usd is not None
            and self.price is not None and self.price.input_per_mtok > 0
        )

    def _wait(self, state: RetryCallState) -> float:
        retry = self.settings.retry
        jitter = wait_random_exponential(multiplier=retry.backoff_s, max=retry.backoff_max_s)(state)
        error = state.outcome.exception() if state.outcome else None
        asked = getattr(error, "retry_after", None) or 0.0
        return max(jitter, min(asked, _MAX_RETRY_AFTER_S))

    async def _attempt(self, call: Call, sem: asyncio.Semaphore, prompt: _Prompt, stopping: _Stopping) -> tuple[Completion, float]:
        """One try: the answer and what it cost."""
        stopping.check()
        async with sem:
            await self._count(call, prompt)
            await self.settings.limits.acquire(self._prompt_bound(prompt) + self.decoding.max_tokens)
            stopping.check()
            if self._one_at_a_time(prompt):
                async with self.ledger.first_call(self.endpoint, self.model.name):
                    if self._one_at_a_time(prompt):  # still: nothing was learned while it waited
                        return await self._send(call, prompt, stopping)
            return await self._send(call, prompt, stopping)

    async def _send(self, call: Call, prompt: _Prompt, stopping: _Stopping) -> tuple[Completion, float]:
        """Reserve the call's worst case, ask, and replace the reservation by what was billed."""
        worst = await self.ledger.hold(lambda: self._worst_cost(self._prompt_bound(prompt), call.messages))
        if worst is None:
            stopping.over_budget(self._worst_cost(self._prompt_bound(prompt), call.messages))
            raise _Stop
        actual = 0.0
        try:
            stopping.check()  # stopped while it waited for room
            coro = self.model.complete(call.messages, self.decoding_for(call), call.sample)
            timeout_s = self.settings.retry.timeout_s
            try:
                out = await (asyncio.wait_for(coro, timeout_s) if timeout_s else coro)
            except asyncio.TimeoutError:
                raise CallError(f"timed out after {timeout_s:g} s", retryable=True) from None
            actual = self._cost(out)
            self._meter().learn(prompt.estimate, out.usage.prompt_tokens)
            return out, actual
        finally:
            self.ledger.settle(worst, actual)

    def _cost(self, out: Completion) -> float:
        return usage_cost(self.price, out.usage) if self.price else 0.0

    async def _one(self, call: Call, key: str, sem: asyncio.Semaphore, stopping: _Stopping, advance: Callable) -> Result | None:
        hit = self.cache.get(key)
        if hit is not None:
            advance(1)
            return hit
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.retry.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, CallError) and e.retryable),
            reraise=True,
        )
        attempts = 0
        prompt = _Prompt(sum(estimate_tokens(m["content"]) for m in call.messages))
        try:
            async for attempt in retrying:
                attempts = attempt.retry_state.attempt_number
                with attempt:
                    out, cost = await self._attempt(call, sem, prompt, stopping)
        except _Stop:
            return None
        except CallError as e:
            if e.fatal:
                stopping.fail(e)
                return None
            advance(1, failed=1)
            return Failed(e.reason, attempts, e.retryable)
        self.cache.put(key, self.model.name, out, role=self.name, stage=self.stage, cost_usd=cost if self.price else None,
                       endpoint=self.endpoint, prompt_estimate=prompt.estimate)
        advance(1, info=self._spend_info())
        return out

    def _over_budget(self, worst: float) -> str:
        """Why the stage stopped, in figures that are true once every call in flight has settled:
        a call is refused only when its worst case would not fit with none in flight."""
        spent, left, most = self.ledger.spent, self.ledger.left or 0.0, self.ledger.max_usd or 0.0
        worst_text, left_text = _dollars(worst, left)
        what = "batch" if self.settings.batch is not None else "call"
        return (
            f"budget: ${spent:.2f} spent and the next {self.name} {what} could cost more than the {left_text} left "
            f"of budget.max_usd (${most:.2f}): up to {worst_text}; every answer so far is cached. "
            "Raise budget.max_usd (with --set) and run the same command again to go on."
        )

    def _spend_info(self) -> str:
        """What the calls of the bar running now have cost (the cache answers the rest for
        nothing), and under a budget where the whole run stands against it."""
        if self.price is None:
            return "price unknown"
        here = f"${self.ledger.spent - self._bar_start:,.2f}"
        return here + (f" (${self.ledger.spent:,.2f} of ${self.ledger.max_usd:,.2f} in all)" if self.ledger.max_usd else "")

    async def _run(self, calls: list[Call], stopping: _Stopping, advance: Callable) -> list[Result | None]:
        """Each distinct request once: identical calls (a pair judged in both orders when the two
        answers are the same text, say) share one answer instead of paying for it twice."""
        keys = [self.key(c) for c in calls]
        first: dict[str, int] = {}  # each key's first call, in call order
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        advance(len(calls) - len(first))
        if self.settings.batch is not None:
            by_key = await self._batched({k: calls[i] for k, i in first.items()}, stopping, advance)
            return [by_key.get(k) for k in keys]
        sem = asyncio.Semaphore(self.settings.concurrency)
        answers = await asyncio.gather(*(self._one(calls[i], k, sem, stopping, advance) for k, i in first.items()))
        by_key = dict(zip(first, answers))
        return [by_key[k] for k in keys]

    async def _batched(self, calls: dict[str, Call], stopping: _Stopping, advance: Callable) -> dict[str, Result]:
        """The calls through the provider's Batches API: cached ones first, then the rest in
        batches, the worst case of all of them reserved against the budget before any is sent."""
        out: dict[str, Result] = {}
        requests = []
        for key, call in calls.items():
            hit = self.cache.get(key)
            if hit is not None:
                out[key] = hit
                advance(1)
            else:
                body = self.model.request_body(call.messages, self.decoding_for(call), call.sample)
                requests.append(Request(key, call.messages, body))
        if not requests:
            return out
        price = batch_price(self.price) if self.price else None
        estimates = {r.key: sum(estimate_tokens(m["content"]) for m in r.messages) for r in requests}
        worst = sum(self._worst_cost(self._meter().bound(estimates[r.key]), r.messages, price) for r in requests) if price else 0.0
        if not self.ledger.reserve(worst):
            stopping.over_budget(worst)
            return out

        spent = [0.0]

        def store(key: str, answer: Completion) -> float | None:
            cost = usage_cost(price, answer.usage) if price else None
            self.cache.put(key, self.model.name, answer, role=self.name, stage=self.stage, cost_usd=cost,
                           endpoint=self.endpoint, prompt_estimate=estimates.get(key))
            spent[0] += cost or 0.0
            return cost

        sender = BatchSender(self.model, self.settings.batch, self.batches, self.name, self.endpoint, self.stage,
                             self.settings.retry.max_attempts)
        try:
            results = await sender.send(requests, store, lambda text: advance(0, info=text))
        finally:
            self.ledger.settle(worst, spent[0])
        for key, r in results.items():
            if isinstance(r, Completion):
                out[key] = r
                advance(1)
            elif r.fatal:
                stopping.fail(r)
            else:
                out[key] = Failed(r.reason, 1, r.retryable)
                advance(1, failed=1)
        return out

    def run(self, calls: list[Call], label: str) -> list[Result]:
        """Every call's answer, or `Failed` for a request the server rejected.

        Raises, after all other calls are done and cached: the fatal error that stopped the
        run, `BudgetExceeded`, or `CallsFailed` for calls that failed every attempt.
        """
        self._bar_start = self.ledger.spent
        stopping = _Stopping()
        with bar(label, len(calls), info=self._spend_info()) as advance, _fewer_collections():
            results = self.loop.run_until_complete(self._run(calls, stopping, advance))
        if stopping.fatal is not None:
            raise stopping.fatal.as_lion()
        if stopping.budget is not None:
            raise BudgetExceeded(self._over_budget(stopping.budget))
        exhausted = [r for r in results if isinstance(r, Failed) and r.retryable]
        if exhausted:
            raise CallsFailed(
                f"{self.name}: {len(exhausted)} of {len(calls)} calls failed after {self.settings.retry.max_attempts} attempts "
                f"(last reason: {exhausted[-1].reason}); the other answers are cached. "
                "Run the same command again to retry only the failed ones."
            )
        return results


def _dollars(more: float, less: float) -> tuple[str, str]:
    """Two amounts in dollars, to cents unless cents would show the larger one no larger."""
    for places in range(2, 7):
        shown = f"${more:.{places}f}", f"${less:.{places}f}"
        if round(more, places) > round(less, places):
            return shown
    return shown
