"""What a run will ask of each role before anything is spent: calls, tokens, cost and time.

Call counts follow from the loop's arithmetic. With S seeds, N new instructions per iteration,
K iterations and H held-out questions:
  - teacher: S + (K-1)*N + H. Iteration k's Train Pool is the N instructions made in k-1, and
    every Cache Pool instruction was answered when it was in a Train Pool, so discrimination
    reuses those answers (they are the same cached request);
  - referee: 2 * (S + (k-1)*N) in iteration k, both orders of every Cache Pool instruction;
  - generator: N per iteration when every reply is kept, up to N * max_attempts_factor;
  - judge: 2 * H per evaluation, before training and after each iteration.
Re-asked judgements (`parse_retries`) and dropped generator replies make the upper bound.

Prompt tokens are counted on the real prompts (the seeds' own text in our templates) at about
four characters per token. Answers are not known yet: their length is `max_tokens` for the
upper bound, and the mean measured in an earlier run (`calibrate`) for the expected figures.
Time assumes each call takes `latency_s` and is limited by the role's concurrency and rate
limits; the student's training and generation are not included.
"""

from __future__ import annotations

import math
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
    cache = ResponseCache(Path(run_folder) / "cache.sqlite")
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
    loop = cfg.loop
    S, N, K, H = len(seeds), loop.new_per_iteration, loop.iterations, len(heldout)
    calibration = calibration or {}
    teacher_answer = calibration.get("teacher", cfg.teacher.decoding.max_tokens)
    teacher_prompt = _mean_tokens([render("teacher", instruction=s.instruction, input=s.input) for s in seeds])
    # a comparison shows the question and two answers (the student's no longer than the teacher's)
    referee_prompt = _comparison_tokens("referee", cfg.referee, seeds) + 2 * teacher_answer
    judge_prompt = _comparison_tokens("judge", cfg.judge, heldout) + 2 * teacher_answer
    gen_prompt = _mean_tokens([render("generator_hard", instruction=s.instruction, input=s.input) for s in seeds])
    pool_sum = sum(S + (k - 1) * N for k in range(1, K + 1))
    plan = {
        "teacher": (S + (K - 1) * N + H, S + (K - 1) * N + H, teacher_prompt),
        "referee": (2 * pool_sum, 2 * pool_sum * (1 + cfg.referee.parse_retries), referee_prompt),
        "generator": (N * K, math.ceil(N * loop.max_attempts_factor) * K, gen_prompt),
        "judge": (2 * H * (K + 1), 2 * H * (K + 1) * (1 + cfg.judge.parse_retries), judge_prompt),
    }
    out = []
    for role, (calls, most, prompt) in plan.items():
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
