"""Evaluation questions from the formats benchmarks ship in, as one list of `Question`s.

Accepted, per record of a JSON array or JSONL file:
  - Vicuna and MT-bench: `question_id`, `category`, `turns` (the first turn is the question,
    and the others follow it when a conversation is asked for);
  - Self-Instruct: `id`, `instruction`, `instances` (the first instance's `input`), and
    `name` or `category` where present;
  - plain: `instruction`, with optional `input`, `id` and `category`.
A question without an id is numbered by its line; without a category it is "all".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lion.core.errors import LionError
from lion.core.jsonio import read_records, record_text


@dataclass(frozen=True)
class Question:
    id: str
    category: str
    instruction: str
    input: str = ""
    turns: tuple[str, ...] = ()  # every turn of a multi-turn question (MT-bench); the first is `instruction`


def _question(rec: dict, line: int, where: str) -> Question:
    instruction = record_text(rec, "instruction", where)
    if not instruction.strip():
        raise LionError(f"{where}: the question is empty.")
    qid = rec.get("question_id", rec.get("id", line))
    instances = rec.get("instances")
    given = rec.get("input", "")
    if isinstance(instances, list) and instances and isinstance(instances[0], dict):
        given = instances[0].get("input", "")
    if not isinstance(given, str):
        raise LionError(f"{where}: field 'input' must be text, got {type(given).__name__}.")
    category = rec.get("category") or "all"
    if not isinstance(category, str):
        raise LionError(f"{where}: field 'category' must be text, got {type(category).__name__}.")
    turns = rec.get("turns") if "instruction" not in rec else None
    if turns is not None and not (isinstance(turns, list) and all(isinstance(t, str) and t.strip() for t in turns)):
        raise LionError(f"{where}: field 'turns' must be a list of non-empty texts.")
    return Question(str(qid), category, instruction, given, tuple(turns) if turns else (instruction,))


def read_questions(path: Path) -> list[Question]:
    questions, seen = [], {}
    for line, rec in read_records(Path(path), "question file"):
        where = f"{path}, line {line}"
        if not isinstance(rec, dict):
            raise LionError(f"{where}: expected a JSON object, got {type(rec).__name__}.")
        q = _question(rec, line, where)
        if q.id in seen:
            raise LionError(f"{where}: question id {q.id} is already used on line {seen[q.id]}.")
        seen[q.id] = line
        questions.append(q)
    return questions
