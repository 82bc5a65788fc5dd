"""Instruction records, their stable ids, and JSONL reading and writing."""

from __future__ import annotations

import hashlib
import json
import re
import string
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from lion.core import atomic
from lion.core.errors import LionError

Origin = Literal["seed", "from-hard", "from-easy"]

_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """The form two texts share when they differ only in case, spacing or Unicode form."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def instruction_id(instruction: str, input: str = "") -> str:
    """Content hash, so the same request gets the same id in every run and every pool."""
    key = normalize(instruction) + "\x1f" + normalize(input)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


class Instruction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    instruction: str
    input: str = ""
    origin: Origin = "seed"
    parent: str | None = None
    iteration: int = 0
    category: str = ""  # the seed's domain or task type where its file names one; inherited by descendants

    @property
    def kind(self) -> str:
        """Its category, or failing that its first word: the grouping used to spread new
        instructions evenly and to trace lineage when a seed file names no categories."""
        if self.category:
            return self.category
        words = self.instruction.split()
        return words[0].strip(string.punctuation).lower() if words else "(empty)"

    @classmethod
    def make(
        cls,
        instruction: str,
        input: str = "",
        origin: Origin = "seed",
        parent: str | None = None,
        iteration: int = 0,
        category: str = "",
    ) -> Instruction:
        instruction, input = instruction.strip(), input.strip()
        return cls(
            id=instruction_id(instruction, input),
            instruction=instruction,
            input=input,
            origin=origin,
            parent=parent,
            iteration=iteration,
            category=category,
        )


class Response(BaseModel):
    """An answer to an instruction, kept with the request so a file reads on its own."""

    model_config = ConfigDict(extra="forbid")

    id: str
    instruction: str
    input: str = ""
    text: str
    finish_reason: str = "stop"


class SplitRecord(BaseModel):
    """A judged instruction's place in the split, with what the signal measured: the referee's
    scores over both orders and the gap d = teacher - student (hard when d >= tau), or the
    student's mean token loss on the teacher's answer given the instruction and alone, and
    their ratio, the IFD (hard in the top share)."""

    id: str
    hard: bool
    teacher_score: float | None = None
    student_score: float | None = None
    d: float | None = None
    loss: float | None = None
    loss_alone: float | None = None
    ifd: float | None = None


M = TypeVar("M", bound=BaseModel)


def write_jsonl(path: Path, records: Iterable[BaseModel | dict]) -> None:
    lines = []
    for r in records:
        obj = r.model_dump(mode="json") if isinstance(r, BaseModel) else r
        lines.append(json.dumps(obj, ensure_ascii=False))
    atomic.write_text(Path(path), "".join(line + "\n" for line in lines))


def read_jsonl(path: Path, model: type[M]) -> list[M]:
    """Read a file this program wrote; a bad line still gets a sentence, never a traceback."""
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(model.model_validate_json(line))
            except ValidationError as e:
                err = e.errors()[0]
                field = ".".join(str(p) for p in err["loc"]) or "record"
                raise LionError(f"{path}, line {lineno}, field '{field}': {err['msg']}.") from None
    return out
