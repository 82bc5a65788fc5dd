"""What a run will ask of each role before anything is spent: calls, tokens, cost and time.

Calls are the step plan's (`lion.loop.plan`), each step counted on the pools it will work on
when the generator fills every quota. Re-asked judgements (`parse_retries`) and dropped
generator replies make the upper bound.

Prompt tokens are counted on the real prompts (the seeds' own text in our templates) at about
four characters per token. Answers are not known yet: their length is `max_tokens` for the
upper bound, and the mean measured in an earlier run (`calibrate`) for the expected figures.
Time assumes each call takes `latency_s` and is limited by the role's concurrency and rate
limits; the student's training and generation are not included.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import mean

from lion.core.chat import estimate_tokens
from lion.core.config import RoleConfig, RunConfig
from lion.core.prompts import render
from lion.core.records import Instruction
from lion.llm.cache import ResponseCache
from lion.llm.judging import PairItem, comparison_messages, first_mode
from lion.llm.pricing import cost_usd, price_of
from lion.loop.plan import ROLES, predicted_sizes, steps
from lion.loop.plan import calls as step_calls
from lion.loop.run_folder import RunFolder


@dataclass
class RoleEstimate:
    role: str
    model: str
    calls: int
    calls_at_most: int
    prompt_tokens: int
    completion_tokens: int | None  # expected; None without a calibration
    completion_tokens_at_most: int
    cost_usd: float | None  # expected
    cost_usd_at_most: float | None  # None where no price is known
    hours: float


def _mean_tokens(texts: list[str]) -> float:
    return mean(estimate_tokens(t) for t in texts) if texts else 0.0


def measured_completion_tokens(run_folder: Path) -> dict[str, float]:
    """Mean completion tokens per role in an earlier run's cache."""
    cache = ResponseCache(RunFolder(run_folder).cache_path)
    try:
        return {role: u["completion_tokens"] / u["calls"] for role, u in cache.spend()["by_role"].items() if u["calls"]}
    finally:
        cache.close()


def _comparison_tokens(prompt: str, rc: RoleConfig, items: list[Instruction]) -> float:
    """Mean tokens of a comparison prompt without its two answers."""
    mode = first_mode(rc)
    return mean(
        sum(estimate_tokens(m["content"]) for m in comparison_messages(prompt, mode, PairItem("", i.instruction, i.input, "", ""), "", ""))
        for i in items
    ) if items else 0.0


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
) -> list[RoleEstimate]:
    """Per role: expected and worst-case calls, tokens and cost, and the hours the calls take."""
    calibration = calibration or {}
    teacher_answer = calibration.get("teacher", cfg.teacher.decoding.max_tokens)
    teacher_prompt = _mean_tokens([render("teacher", instruction=s.instruction, input=s.input) for s in seeds])
    # a comparison shows the question and two answers (the student's no longer than the teacher's)
    referee_prompt = _comparison_tokens("referee", cfg.referee, seeds) + 2 * teacher_answer
    judge_prompt = _comparison_tokens("judge", cfg.judge, heldout) + 2 * teacher_answer
    gen_prompt = _mean_tokens([render("generator_hard", instruction=s.instruction, input=s.input) for s in seeds])
    prompts = {"teacher": teacher_prompt, "referee": referee_prompt, "generator": gen_prompt, "judge": judge_prompt}
    counted = plan_calls(cfg, len(seeds), len(heldout))
    out = []
    for role, prompt in prompts.items():
        calls, most = counted[role]
        rc: RoleConfig = getattr(cfg, role)
        max_tokens = rc.decoding.max_tokens
        answer = calibration.get(role)
        price = price_of(rc)
        completion = None if answer is None else round(calls * answer)
        wait = latency_s if latency_s is not None else 1.0 + (answer or max_tokens) / 50  # ~50 tokens/s decoding
        out.append(
            RoleEstimate(
                role=role,
                model=rc.model,
                calls=calls,
                calls_at_most=most,
                prompt_tokens=round(calls * prompt),
                completion_tokens=completion,
                completion_tokens_at_most=most * max_tokens,
                cost_usd=None if price is None or completion is None else cost_usd(price, round(calls * prompt), completion),
                cost_usd_at_most=None if price is None else cost_usd(price, round(most * prompt), most * max_tokens),
                hours=_hours(calls, prompt + (answer or max_tokens), rc, wait),
            )
        )
    return out


def as_dicts(rows: list[RoleEstimate]) -> list[dict]:
    return [asdict(r) for r in rows]
