"""What each stage of an iteration writes as its statistics, and `lion.loop.summary` reads back.

Typed and closed (`extra="forbid"`), so a field renamed on one side fails a test instead of
reading as nothing on the other. Fields added since a run folder was written default to None.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from lion.core import atomic


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def write(self, path: Path) -> None:
        atomic.write_json(path, self.model_dump(mode="json"))


class Training(_Result):
    """One training run of the student (see `lion.student.train.training_stats`)."""

    steps: int = 0
    first_loss: float | None = None
    last_loss: float | None = None
    runtime_s: float | None = None
    resumed_at_step: int | None = None


class PreferenceTraining(Training):
    pairs: int  # the referee's hard pairs the DPO step learned from


class ImitationResult(Training):
    examples: int  # trained on: this Train Pool's usable answers and, by strategy, earlier ones
    start: str  # the student training began from
    failed: int = 0  # instructions whose teacher call was rejected
    empty: int | None = None  # teacher answers that were empty (never trained on)
    cut_off: int | None = None  # ... and cut off at max_tokens (see loop.cut_off_answers)
    held_back: int | None = None  # of the Train Pool, kept out of this training to be judged
    dpo: PreferenceTraining | None = None


class DiscriminationResult(_Result):
    judged: int
    hard: int
    easy: int
    failed: int  # items left out: a rejected call, an empty teacher answer, or no verdict
    mean_d: float | None
    mean_ifd: float | None = None  # with loop.signal: student_loss


class GenerationResult(_Result):
    wanted: int
    generated: int  # generator replies, kept or dropped
    kept: int
    kept_from_hard: int
    kept_from_easy: int
    dropped: dict[str, int] = Field(default_factory=dict)  # drop reason -> replies, in order of first occurrence
    notes: list[str] = Field(default_factory=list)


R = TypeVar("R", bound=_Result)


def read_result(path: Path, model: type[R]) -> R | None:
    """A stage's statistics, or None before the stage has written them."""
    return model.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else None
