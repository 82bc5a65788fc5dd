"""What a run will ask of each role before anything is spent: calls, tokens, cost and time.

Calls are the step plan's (`lion.loop.plan`), each step counted on the pools it will work on
when the generator fills every quota. Re-asked judgements (`parse_retries`) and dropped
generator replies make the upper bound.

Prompts are the real ones (the seeds' own text in our templates), counted by the rule the
budget reserves by (`lion.llm.dispatch`): a role whose model can count a prompt
(`CountsPromptTokens`: a local model's tokenizer and chat template) is counted exactly; any
other is at four characters a token for the expected figures and, for the upper bound, at
what its server may bill (`PromptMeter`: generous until a run has been billed by it); a model
that would count its prompts but whose tokenizer cannot be loaded (a Hub name, the Hub
unreachable) is counted like any other, and its row says why (`uncounted`). An
earlier run (`--calibrate`) gives what its servers billed per role (prompt tokens against
our estimate of them) and their meters, and its answers' mean length; without it answers
are `max_tokens` long for the upper bound and unknown for the expected figures. Time assumes
each call takes `latency_s` and is limited by the role's concurrency and rate limits; the
student's training and generation are not included. Seeds that cannot be read (a Hub dataset,
the Hub unreachable) can be stood in for by `data.limit` seeds of a guessed length
(`stand_in_seeds`), for an estimate that is a guess and is shown as one.

A role whose backend marks prompts for the provider's cache (Anthropic) has its shared prefix
(system message and structured-output schema) counted as read from the cache in the expected
figures, at the cache-read price, only when it is at least as long as the model caches; the
upper bound prices every prompt token of such a role at the dearer of the input and
cache-write prices, as the budget reserves it.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import mean

from lion.core.chat import CountsPromptTokens, Message, Usage, estimate_tokens
from lion.core.config import DataConfig, Price, RoleConfig, RunConfig
from lion.core.errors import LionError
from lion.core.prompts import render
from lion.core.records import Instruction
from lion.llm.backends import build_model, implementation
from lion.llm.cache import ResponseCache
from lion.llm.judging import SCHEMA_TEXT, PairItem, comparison_messages, first_mode
from lion.llm.pricing import PromptMeter, at_most, batch_price, cache_min_tokens, price_of, usage_cost
from lion.loop.plan import ROLES, predicted_sizes, steps
from lion.loop.plan import calls as step_calls
from lion.loop.run_folder import RunFolder

_COUNTED_AT_MOST = 256  # prompts a counting model counts per role: a sample of the seeds, evenly spread
GUESSED_SEED_CHARS = 300  # a seed's instruction and input where the seeds cannot be read: a guess, and said to be


@dataclass
class RoleEstimate:
    role: str
    model: str
    calls: int
    calls_at_most: int
    prompt_tokens: int  # expected
    prompt_tokens_at_most: int  # every prompt at the most its server may bill for it
    completion_tokens: int | None  # expected; None without a measured answer length
    completion_tokens_at_most: int
    cost_usd: float | None  # expected
    cost_usd_at_most: float | None  # None where no price is known
    batch_cost_usd: float | None  # the same through the provider's batch API
    batch_cost_usd_at_most: float | None
    hours: float
    # where the backend marks prompts for the provider's cache: the shared start of the role's
    # prompts (system message and structured-output schema), and the shortest the model caches
    cache_prefix_tokens: int | None = None
    cache_min_tokens: int | None = None
    # where the role's model counts its prompts but its tokenizer would not load (a Hub name with
    # the Hub unreachable): why, and its prompts are guessed at four characters a token instead
    uncounted: str | None = None

    @property
    def cached(self) -> bool:
        """Whether the expected figures count the shared prefix as read from the provider's cache."""
        return bool(self.cache_prefix_tokens and self.cache_min_tokens and self.cache_prefix_tokens >= self.cache_min_tokens)


@dataclass
class PromptBilling:
    """What an earlier run's servers billed for prompts."""

    per_role: dict[str, float] = field(default_factory=dict)  # billed prompt tokens per estimated one
    meters: dict[tuple[str, str], PromptMeter] = field(default_factory=dict)  # per (endpoint, model)


def _cache_of(run_folder: Path) -> ResponseCache:
    """An earlier run's cache, read without writing: it may be running still."""
    return ResponseCache(RunFolder(run_folder).cache_path, read_only=True)


def measured_completion_tokens(run_folder: Path) -> dict[str, float]:
    """Mean completion tokens per role in an earlier run's cache; a role it never called is absent."""
    cache = _cache_of(run_folder)
    try:
        return {role: u["completion_tokens"] / u["calls"] for role, u in cache.spend()["by_role"].items() if u["calls"]}
    finally:
        cache.close()


def measured_prompts(run_folder: Path) -> PromptBilling:
    """Billed prompt tokens per estimated token for each role of an earlier run, and each of its
    endpoints' meters, as a run that resumed from that cache would start with them."""
    cache = _cache_of(run_folder)
    try:
        rows = cache.prompt_billing()
    finally:
        cache.close()
    billed: dict[str, list[int]] = {}
    out = PromptBilling()
    for row in rows:
        sums = billed.setdefault(row["role"], [0, 0])
        sums[0] += row["prompt_tokens"]
        sums[1] += row["prompt_estimate"]
        out.meters.setdefault((row["endpoint"], row["model"]), PromptMeter()).include(row["max_ratio"], row["max_excess"])
    out.per_role = {role: p / e for role, (p, e) in billed.items() if role and e}
    return out


@dataclass(frozen=True)
class _Prompts:
    """A role's prompts as the plan will send them: the messages, and tokens the messages do
    not hold yet (the two answers a comparison will show)."""

    messages: list[list[Message]]
    added: float = 0.0

    def estimates(self) -> list[float]:
        return [sum(estimate_tokens(m["content"]) for m in ms) + self.added for ms in self.messages]


def _shared_prefix(rc: RoleConfig, prompts: _Prompts) -> int:
    """The tokens at the start of every prompt of the role that a provider's cache can keep: the
    system message, and the schema a structured request sends before it (as its tool)."""
    first = prompts.messages[0] if prompts.messages else []
    system = sum(estimate_tokens(m["content"]) for m in first if m["role"] == "system")
    schema = estimate_tokens(SCHEMA_TEXT) if system and first_mode(rc) == "json" else 0
    return system + schema


def _comparisons(prompt: str, rc: RoleConfig, items: list[Instruction], answer: float) -> _Prompts:
    """Comparison prompts without their two answers, which add `answer` tokens each."""
    mode = first_mode(rc)
    messages = [comparison_messages(prompt, mode, PairItem("", i.instruction, i.input, "", ""), "", "") for i in items]
    return _Prompts(messages, 2 * answer)


def _counted(name: str, rc: RoleConfig, prompts: _Prompts, threads: int) -> tuple[list[float] | None, str | None]:
    """The prompts as the role's model counts them, for a sample of them, or None where it
    cannot count; and why not, where it could have.

    Only the tokenizer is loaded. One that cannot be (a Hub name with the Hub unreachable)
    leaves the role bounded like any other, and the estimate says so: its figures are guesses.
    """
    if not prompts.messages or not issubclass(implementation(rc.backend), CountsPromptTokens):
        return None, None
    step = max(1, len(prompts.messages) // _COUNTED_AT_MOST)
    sample = prompts.messages[::step][:_COUNTED_AT_MOST]
    model = build_model(name, rc, threads)

    async def count() -> list[int]:
        try:
            return [await model.count_prompt_tokens(ms) for ms in sample]
        finally:
            await model.aclose()

    try:
        return [n + prompts.added for n in asyncio.run(count())], None
    except (LionError, OSError) as e:
        return None, (str(e).strip().splitlines() or [type(e).__name__])[0]


def _per_call(
    name: str, rc: RoleConfig, prompts: _Prompts, billing: PromptBilling, threads: int
) -> tuple[float, float, str | None]:
    """A role's prompt tokens per call: expected, and at most, by the budget's rule; and why its
    model did not count them where it could have."""
    counted, uncounted = _counted(name, rc, prompts, threads)
    if counted is not None:
        return mean(counted), mean(counted), None
    estimates = prompts.estimates()
    if not estimates:
        return 0.0, 0.0, uncounted
    meter = billing.meters.get((rc.endpoint(), rc.model), PromptMeter())
    expected = mean(estimates) * billing.per_role.get(name, 1.0)
    return expected, mean(meter.bound(round(e)) for e in estimates), uncounted


def stand_in_seeds(data: DataConfig, unread: LionError) -> list[Instruction]:
    """`data.limit` seeds of `GUESSED_SEED_CHARS` characters each, for an estimate whose seeds
    cannot be read (a Hub dataset, the Hub unreachable): the plan's calls follow from the count
    alone and the prompts from the length, so the estimate can still be made, as a guess.

    Without `data.limit` there is no count to guess from: one sentence says so.
    """
    if data.limit is None:
        raise LionError(f"{str(unread).rstrip('.')}; without its seeds, lion estimate can guess from data.limit, "
                        "which this config leaves unset.")
    words = " ".join(["word"] * (GUESSED_SEED_CHARS // 5))  # plain words, that any tokenizer counts as words
    return [Instruction.make(f"{i} {words}") for i in range(data.limit)]


def plan_calls(cfg: RunConfig, seeds: int, heldout: int) -> dict[str, tuple[int, int]]:
    """Each role's paid calls over the whole plan, expected and at most, every step counted on
    its predicted pools; requests the cache already answered cost nothing."""
    total = {role: (0, 0) for role in ROLES}
    for step in steps(cfg, evaluates=heldout > 0):
        sizes = predicted_sizes(cfg, seeds, heldout, max(step.iteration, 1))
        for role, c in step_calls(step, cfg, sizes).items():
            total[role] = (total[role][0] + c.paid, total[role][1] + c.paid_at_most)
    return total


def _hours(calls: int, tokens_per_call: float, rc: RoleConfig, latency_s: float) -> float:
    per_s = rc.concurrency / latency_s
    if rc.rpm:
        per_s = min(per_s, rc.rpm / 60)
    if rc.tpm and tokens_per_call:
        per_s = min(per_s, rc.tpm / 60 / tokens_per_call)
    return calls / per_s / 3600


def estimate(
    cfg: RunConfig,
    seeds: list[Instruction],
    heldout: list[Instruction],
    latency_s: float | None = None,
    calibration: dict[str, float] | None = None,
    billing: PromptBilling | None = None,
) -> list[RoleEstimate]:
    """Per role: expected and worst-case calls, tokens and cost, and the hours the calls take.

    `calibration` is an earlier run's mean answer length per role, `billing` what its servers
    billed for prompts (`measured_completion_tokens`, `measured_prompts`).
    """
    calibration = calibration or {}
    billing = billing or PromptBilling()
    teacher_answer = calibration.get("teacher", cfg.teacher.decoding.max_tokens)
    # a comparison shows the question and two answers (the student's no longer than the teacher's)
    prompts = {
        "teacher": _Prompts([[{"role": "user", "content": render("teacher", instruction=s.instruction, input=s.input)}]
                             for s in seeds]),
        "referee": _comparisons("referee", cfg.referee, seeds, teacher_answer),
        "generator": _Prompts([[{"role": "user", "content": render("generator_hard", instruction=s.instruction, input=s.input)}]
                               for s in seeds]),
        "judge": _comparisons("judge", cfg.judge, heldout, teacher_answer),
    }
    counted = plan_calls(cfg, len(seeds), len(heldout))
    out = []
    for role, role_prompts in prompts.items():
        calls, most = counted[role]
        rc: RoleConfig = getattr(cfg, role)
        prompt, prompt_most, uncounted = _per_call(role, rc, role_prompts, billing, cfg.torch_threads())
        max_tokens = rc.decoding.max_tokens
        answer = calibration.get(role)
        price = price_of(rc)
        batch = batch_price(price) if price is not None else None
        completion = None if answer is None else round(calls * answer)
        wait = latency_s if latency_s is not None else 1.0 + (answer or max_tokens) / 50  # ~50 tokens/s decoding
        caches = rc.capabilities.caches_prompts
        prefix = _shared_prefix(rc, role_prompts) if caches else None
        least = cache_min_tokens(rc.model) if caches else None
        read = calls * prefix if prefix and least and prefix >= least else 0  # the few writes are left out
        expected = Usage(round(calls * prompt), completion or 0, cache_read_tokens=read)
        worst = Usage(round(most * prompt_most), most * max_tokens)
        out.append(
            RoleEstimate(
                role=role,
                model=rc.model,
                calls=calls,
                calls_at_most=most,
                prompt_tokens=round(calls * prompt),
                prompt_tokens_at_most=round(most * prompt_most),
                completion_tokens=completion,
                completion_tokens_at_most=most * max_tokens,
                cost_usd=_cost(price, expected, completion is not None),
                cost_usd_at_most=_cost(at_most(price, bool(prefix)) if price else None, worst),
                batch_cost_usd=_cost(batch, expected, completion is not None),
                batch_cost_usd_at_most=_cost(at_most(batch, bool(prefix)) if batch else None, worst),
                hours=_hours(calls, prompt + (answer or max_tokens), rc, wait),
                cache_prefix_tokens=prefix,
                cache_min_tokens=least,
                uncounted=uncounted,
            )
        )
    return out


def _cost(price: Price | None, usage: Usage, answers_known: bool = True) -> float | None:
    """None where the price or the answer length is not known."""
    return None if price is None or not answers_known else usage_cost(price, usage)


def as_dicts(rows: list[RoleEstimate]) -> list[dict]:
    return [asdict(r) for r in rows]
