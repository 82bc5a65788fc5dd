"""What a run produced, as typed records: one per iteration, read from the steps' own outputs.

The loop writes them to `summary.json`; `lion status`, `lion report` and `lion experiment` read
a run through here, so they agree, and each works on a run that is still going (or was
killed): a step not yet done reads as None.
"""

from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from lion.core import atomic
from lion.llm.cache import ResponseCache, add_usage
from lion.loop.plan import Step, iteration_of
from lion.loop.run_folder import RunFolder
from lion.loop.stage_results import DiscriminationResult, GenerationResult, ImitationResult, read_result
from lion.loop.stages.heldout import HeldoutResult


class Spend(BaseModel):
    """LLM calls, tokens and dollars; the cost is None once any price is unknown."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0  # of prompt_tokens, those read from the provider's prompt cache
    cost_usd: float | None = 0.0

    @property
    def cached_share(self) -> float | None:
        """The share of prompt tokens the provider's cache served; None without prompt tokens."""
        return self.cache_read_tokens / self.prompt_tokens if self.prompt_tokens else None


class RunSpend(BaseModel):
    total: Spend = Spend()
    by_role: dict[str, Spend] = Field(default_factory=dict)
    by_step: dict[str, Spend] = Field(default_factory=dict)

    def iteration(self, k: int) -> Spend:
        """What iteration k's steps have spent so far."""
        total: dict = {}
        for step, s in self.by_step.items():
            if iteration_of(step) == k:
                add_usage(total, s.model_dump())
        return Spend(**total)


class IterationRecord(BaseModel):
    """Iteration k's pools, split, generation, held-out scores, failures and spend."""

    model_config = ConfigDict(extra="forbid")

    iteration: int
    train_pool: int | None = None  # the pools the iteration started from
    cache_pool: int | None = None
    teacher_empty: int | None = None  # the Train Pool's teacher answers that were empty (never trained on)
    teacher_cut_off: int | None = None  # ... and those cut off at max_tokens (see loop.cut_off_answers)
    held_back: int | None = None  # of the Train Pool, kept out of this iteration's training (loop.judged: held_back)
    closing: bool = False  # the closing imitation after the last generation: no referee, no generator
    hard: int | None = None  # loop.signal's split; None without one or before it ran
    easy: int | None = None
    failed_judgements: int | None = None
    mean_d: float | None = None  # with loop.signal: referee
    mean_ifd: float | None = None  # with loop.signal: student_loss
    generated: int | None = None  # generator replies, kept or dropped
    kept: int | None = None
    kept_from_hard: int | None = None
    kept_from_easy: int | None = None
    dropped: dict[str, int] | None = None  # drop reason -> replies
    notes: list[str] | None = None
    heldout: HeldoutResult | None = None
    spend: Spend = Spend()
    position_bias: dict | None = None  # see lion.llm.position_bias.bias_stats
    failed_items: dict[str, int] = Field(default_factory=dict)  # step -> items left out

    @property
    def judged(self) -> int | None:
        return None if self.hard is None or self.easy is None else self.hard + self.easy


class Summary(BaseModel):
    """What `summary.json` holds: the untrained student's scores, every finished iteration's
    record and the run's spend."""

    before: HeldoutResult | None = None
    iterations: list[IterationRecord] = Field(default_factory=list)
    spend: RunSpend = RunSpend()


def load_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _count_lines(path: Path) -> int | None:
    if not path.exists():
        return None
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def _heldout(path: Path) -> HeldoutResult | None:
    return HeldoutResult.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else None


def before_scores(run: RunFolder) -> HeldoutResult | None:
    return _heldout(run.before.scores)


def run_spend(run: RunFolder, cache: ResponseCache | None = None) -> RunSpend:
    """The run's spend from its cache: the open one, or read-only from disk (for watchers)."""
    if cache is not None:
        return RunSpend.model_validate(cache.spend())
    if not run.cache_path.exists():
        return RunSpend()
    cache = ResponseCache(run.cache_path, read_only=True)
    try:
        return RunSpend.model_validate(cache.spend())
    finally:
        cache.close()


def iteration_record(run: RunFolder, k: int, spend: RunSpend, closing: bool = False) -> IterationRecord:
    """Iteration k as its step outputs on disk say it is now."""
    it = run.iteration(k)
    train = read_result(it.imitation.train_stats, ImitationResult)
    disc = None if closing else read_result(it.discrimination.stats, DiscriminationResult)
    gen = None if closing else read_result(it.generation.stats, GenerationResult)
    pools = run.pools(k - 1)
    return IterationRecord(
        iteration=k,
        closing=closing,
        train_pool=_count_lines(pools.train),
        cache_pool=_count_lines(pools.cache),
        teacher_empty=train and train.empty,
        teacher_cut_off=train and train.cut_off,
        held_back=train and train.held_back or None,
        hard=disc and disc.hard,
        easy=disc and disc.easy,
        failed_judgements=disc and disc.failed,
        mean_d=disc and disc.mean_d,
        mean_ifd=disc and disc.mean_ifd,
        generated=gen and gen.generated,
        kept=gen and gen.kept,
        kept_from_hard=gen and gen.kept_from_hard,
        kept_from_easy=gen and gen.kept_from_easy,
        dropped=gen and gen.dropped,
        notes=gen and gen.notes,
        heldout=_heldout(it.heldout.scores),
        spend=spend.iteration(k),
        position_bias=None if closing else load_json(it.discrimination.bias),
        failed_items={step: n for step, files in (("imitation", it.imitation), ("discrimination", it.discrimination))
                      if not (closing and step == "discrimination") and (n := _count_lines(files.failed))},
    )


def summarize(run: RunFolder, plan: list[Step], cache: ResponseCache) -> Summary:
    """Rebuild summary.json from the step outputs and the cache, so it is right after any resume:
    a record for each iteration of the plan whose steps are all done, up to the first that is not."""
    spend = run_spend(run, cache)
    summary = Summary(before=before_scores(run), spend=spend)
    for k, group in groupby((s for s in plan if s.iteration), key=lambda s: s.iteration):
        group = list(group)
        if not all(run.is_done(s.name) for s in group):
            break
        summary.iterations.append(iteration_record(run, k, spend, closing=group[0].closing))
    atomic.write_json(run.summary_path, summary.model_dump(mode="json"))
    return summary


def read_summary(run: RunFolder) -> Summary | None:
    """A run's summary.json as the loop last wrote it; None before its first iteration ends."""
    path = run.summary_path
    return Summary.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else None
