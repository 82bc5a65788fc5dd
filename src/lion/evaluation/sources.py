"""Where a model's answers to evaluation questions come from, named on the command line.

A SOURCE is one of:
  - an answers file (JSON array or JSONL): FastChat's answer format (`question_id`,
    `choices[0].turns[0]`), or records with `question_id`, `id` or `instruction` and one of
    `answer`, `output`, `response`, `text` (Alpaca JSON is the last kind);
  - `CONFIG.yaml` or `CONFIG.yaml:ROLE`: that config's role (default `teacher`) answers, as the
    teacher does in a run, through the cache;
  - a model folder (full weights or a LoRA adapter), a run folder (its last student, or
    `RUN@K` for iteration K, 0 being the untrained base), or `hf:NAME` for a Hugging Face hub
    model: greedy answers generated with the student settings of the evaluation's config.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lion.core.config import RoleConfig, RunConfig, load_config
from lion.core.errors import LionError
from lion.core.jsonio import read_records
from lion.core.prompts import input_block
from lion.core.records import Instruction
from lion.data.questions import Question
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import Call, Failed, Role
from lion.llm.roles import Roles
from lion.loop.answers import answer_prompts, teacher_messages
from lion.loop.context import base_student_path
from lion.loop.run_folder import RunFolder
from lion.student.generate import student_generator

_ANSWER_FIELDS = ("answer", "output", "response", "text")
_AT_ITERATION = re.compile(r"^(.*)@(\d+)$")
_ROLES = ("teacher", "referee", "generator", "judge")


@dataclass
class Sources:
    """What answering needs: the cache, the evaluation's config (student settings), and the
    roles of every config named so far, built once each."""

    cache: ResponseCache
    cfg: RunConfig
    threads: int
    _roles: dict[Path, tuple[RunConfig, Roles]] = field(default_factory=dict)

    def seed_roles(self, path: Path, cfg: RunConfig, roles: Roles) -> None:
        """Roles already built for a config (with its overrides), used for sources naming it."""
        self._roles[path.resolve()] = (cfg, roles)

    def roles(self, path: Path) -> tuple[RunConfig, Roles]:
        key = path.resolve()
        if key not in self._roles:
            cfg = load_config(path)
            self._roles[key] = (cfg, Roles.from_config(cfg, self.cache))
        return self._roles[key]

    def all_roles(self) -> list[Role]:
        """Every role built so far, of every config."""
        return [role for _, roles in self._roles.values() for role in roles.all()]

    def close(self) -> None:
        """Release every config's models and connections; an open aiohttp session would
        otherwise be reported at exit as unclosed."""
        failed: Exception | None = None
        for _, roles in self._roles.values():
            try:
                roles.close()
            except Exception as e:
                failed = failed or e
        if failed is not None:
            raise failed

    def answers(self, name: str, spec: str, questions: list[Question], turns: int = 1) -> list[list[str | Failed]]:
        """`name`'s answers to each question's first `turns` turns (as many as it has), each
        given after its own earlier answers; `Failed` where an endpoint rejected a request."""
        label = f"{name}: answers"
        source = resolve(name, spec)
        if source.kind == "endpoint":
            return self._conversations(questions, turns, label,
                                       lambda: _RoleAnswers(getattr(self.roles(source.path)[1], source.role)))
        if source.kind == "file":
            return answers_file(source.path, questions, turns)
        model = source.path if source.kind == "hf" else student_of(source.path, source.iteration)
        return self._conversations(questions, turns, label, lambda: _ModelAnswers(self, model))

    def _conversations(self, questions: list[Question], turns: int, label: str, make: Callable) -> list[list[str | Failed]]:
        """Turn by turn: every question's turn t is asked once its turn t - 1 is answered."""
        answerer = make()
        out: list[list[str | Failed]] = [[] for _ in questions]
        for t in range(1, turns + 1):
            due = [i for i, q in enumerate(questions) if len(q.turns) >= t and not any(isinstance(a, Failed) for a in out[i])]
            if not due:
                break
            found = answerer.answer([questions[i] for i in due], [out[i] for i in due], label if t == 1 else f"{label}, turn {t}")
            for i, a in zip(due, found):
                out[i].append(a)
        return out


class _RoleAnswers:
    """A config's role answering, as the teacher does in a run."""

    def __init__(self, role: Role):
        self.role = role

    def answer(self, questions: list[Question], earlier: list[list[str]], label: str) -> list[str | Failed]:
        calls = []
        for q, said in zip(questions, earlier):
            messages = teacher_messages(Instruction.make(q.instruction, q.input))
            for turn, answer in zip(q.turns[1 : len(said) + 1], said):
                messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": turn}]
            calls.append(Call(messages))
        return [out if isinstance(out, Failed) else out.text for out in self.role.run(calls, label)]


class _ModelAnswers:
    """A model folder answering greedily, with the evaluation config's student settings."""

    def __init__(self, sources: Sources, model: Path):
        self.sources, self.model = sources, model
        student = sources.cfg.student
        self.gen = student_generator(model, student.generate, student.prompt_format, sources.threads)

    def answer(self, questions: list[Question], earlier: list[list[str]], label: str) -> list[str | Failed]:
        prompts = [self.gen.prompt(q.instruction, q.input) if not said else
                   self.gen.conversation([q.instruction + input_block(q.input), *q.turns[1 : len(said) + 1]], said)
                   for q, said in zip(questions, earlier)]
        return list(answer_prompts(self.sources.cache, self.gen, self.model, prompts, label))


@dataclass(frozen=True)
class Source:
    """What a NAME=SOURCE argument names, before anything is loaded or asked."""

    kind: Literal["endpoint", "hf", "file", "model"]
    path: Path
    role: str = "teacher"
    iteration: int | None = None


def resolve(name: str, spec: str) -> Source:
    endpoint = re.fullmatch(r"(.+\.ya?ml)(?::(\w+))?", spec)
    if endpoint:
        role = endpoint.group(2) or "teacher"
        if role not in _ROLES:
            raise LionError(f"{name}={spec}: unknown role '{role}'; choose one of {', '.join(_ROLES)}.")
        return Source("endpoint", Path(endpoint.group(1)), role)
    if spec.startswith("hf:"):
        return Source("hf", Path(spec[3:]))
    at = _AT_ITERATION.fullmatch(spec)
    path = Path(at.group(1) if at else spec)
    if path.is_file():
        return Source("file", path)
    if not path.is_dir():
        raise LionError(f"{name}={spec}: no such file or folder, and not a CONFIG.yaml[:ROLE] or hf:NAME source.")
    return Source("model", path, iteration=int(at.group(2)) if at else None)


def endpoint_roles(
    sources: list[tuple[str, str, str]], judge_config: Path, cfg: RunConfig
) -> list[tuple[str, str, RoleConfig]]:
    """(who, role, its config) for every endpoint an evaluation will call: the judge, then the
    role of each (who, NAME, SOURCE) that is a CONFIG.yaml[:ROLE], read the way `Sources.roles`
    reads it (the judge's own config with its overrides, any other as it is on disk), so that
    all of them can be checked before anything is made."""
    configs = {judge_config.resolve(): cfg}
    found = [(f"the judge ({judge_config}:judge)", "judge", cfg.judge)]
    for who, name, spec in sources:
        source = resolve(name, spec)
        if source.kind != "endpoint":
            continue
        key = source.path.resolve()
        if key not in configs:
            configs[key] = load_config(source.path)
        found.append((f"{who} ({source.path}:{source.role})", source.role, getattr(configs[key], source.role)))
    return found


def check_source(name: str, spec: str, questions: list[Question], turns: int) -> None:
    """Refuse a bad source before anything is written or asked: an answers file is read whole,
    a run folder's iteration is looked up; endpoints are checked next (`endpoint_roles` names
    them), and models when they load."""
    source = resolve(name, spec)
    if source.kind == "file":
        answers_file(source.path, questions, turns)
    elif source.kind == "model":
        student_of(source.path, source.iteration)


def student_of(source: Path, iteration: int | None) -> Path:
    """The student a source names: a run folder's (see `run_student`), or a model folder itself.
    A missing folder is refused here: loaded as it is, its name would be looked up on the Hub."""
    if not source.is_dir():
        raise LionError(f"{source}: {'not a' if source.exists() else 'no such'} run or model folder.")
    if RunFolder.looks_like_run(source):
        return run_student(source, iteration)
    if iteration is not None:
        raise LionError(f"{source} is not a run folder, so no iteration of it can be chosen.")
    return source


def run_student(run: Path, iteration: int | None) -> Path:
    """A run folder's student of an iteration (0: the untrained base); the last one by default."""
    folder = RunFolder(run)
    trained = folder.trained_iterations()
    k = iteration if iteration is not None else (trained[-1] if trained else 0)
    if k == 0:
        return base_student_path(load_config(folder.config_path), folder)
    if k not in trained:
        raise LionError(f"{run}: iteration {k} has no trained student (trained: {', '.join(map(str, trained)) or 'none'}).")
    return folder.iteration(k).student


def answers_file(path: Path, questions: list[Question], turns: int = 1) -> list[list[str]]:
    """The file's answers to each question, matched by question id or else by instruction; a
    conversation's later turns come from FastChat's `choices[0].turns`."""
    by_id, by_text = {}, {}
    for line, rec in read_records(path, "answers file"):
        where = f"{path}, line {line}"
        if not isinstance(rec, dict):
            raise LionError(f"{where}: expected a JSON object, got {type(rec).__name__}.")
        texts = _answer_texts(rec, where)
        if "question_id" in rec or "id" in rec:
            by_id[str(rec.get("question_id", rec.get("id")))] = texts
        if isinstance(rec.get("instruction"), str):
            by_text[(rec["instruction"].strip(), str(rec.get("input", "")).strip())] = texts
    out = []
    for q in questions:
        texts = by_id.get(q.id, by_text.get((q.instruction.strip(), q.input.strip())))
        if texts is None:
            raise LionError(f"{path}: no answer to question {q.id} (matched by question_id, id or instruction).")
        wanted = min(turns, len(q.turns))
        if len(texts) < wanted:
            raise LionError(f"{path}: question {q.id} has {wanted} turns to answer and the file answers {len(texts)}.")
        out.append(texts[:wanted])
    return out


def _answer_texts(rec: dict, where: str) -> list[str]:
    choices = rec.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        turns = choices[0].get("turns")
        if isinstance(turns, list) and turns and all(isinstance(t, str) for t in turns):
            return turns
        raise LionError(f"{where}: field 'choices' holds no 'turns' with a first answer.")
    for name in _ANSWER_FIELDS:
        if name in rec:
            if not isinstance(rec[name], str):
                raise LionError(f"{where}: field '{name}' must be text, got {type(rec[name]).__name__}.")
            return [rec[name]]
    raise LionError(f"{where}: the record has no answer (choices, {', '.join(_ANSWER_FIELDS)}).")
