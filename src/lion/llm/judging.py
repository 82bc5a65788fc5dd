"""Pairwise judging in both orders, shared by the referee and the evaluation judge.

The judge sees answer A first and B second, then the same pair swapped; each side's score is
the mean of its two scores, which cancels a constant preference for one position. A reply whose
scores cannot be read (see lion.llm.verdicts) is asked again as a new sample, a bounded number
of times; after that the item is reported as failed and left out, never given an invented score.

`auto` mode asks for structured output (`json`) where the backend can be asked for it and falls
back to `text` when the endpoint rejects structured output; the mode reported for the stage is
the one the replies were really read in.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from lion.core.chat import Message
from lion.core.config import RoleConfig
from lion.core.prompts import render, template
from lion.llm.dispatch import Call, Failed, Role
from lion.llm.verdicts import VERDICT_SCHEMA, ScoreParseError, read_verdict

SCHEMA_TEXT = json.dumps(VERDICT_SCHEMA, sort_keys=True)


@dataclass(frozen=True)
class PairItem:
    """One question with the two answers to compare: `a` is the reference side (the teacher)."""

    id: str
    instruction: str
    input: str
    a: str
    b: str


@dataclass
class Verdict:
    id: str
    a_score: float | None = None  # mean over both orders
    b_score: float | None = None
    a_first: tuple[float, float] | None = None  # (a, b) when a was shown first
    b_first: tuple[float, float] | None = None  # (a, b) when b was shown first
    raw_a_first: str = ""
    raw_b_first: str = ""
    error: str | None = None


@dataclass
class Judged:
    verdicts: list[Verdict]
    mode: str  # how the verdicts were read: "text", "json", or json with the replies that were not (see `_reported_mode`)
    asked_again: int = 0  # replies re-asked as new samples because their scores were unreadable
    notes: list[str] = field(default_factory=list)
    read_as: dict[str, int] = field(default_factory=dict)  # replies whose scores were used, by the mode they were read in


def comparison_messages(prompt: str, mode: str, item: PairItem, first: str, second: str) -> list[Message]:
    """The messages that ask `prompt` ("referee" or "judge") to compare two answers in `mode`."""
    closing = template(f"{prompt}_closing_{mode}").rstrip("\n")
    return [
        {"role": "system", "content": template(f"{prompt}_system").strip()},
        {
            "role": "user",
            "content": render(
                prompt, instruction=item.instruction, input=item.input, answer_1=first, answer_2=second, closing=closing
            ),
        },
    ]


def first_mode(cfg: RoleConfig) -> str:
    """`auto` asks for structured output where the backend can be asked for it."""
    if cfg.structured == "auto":
        return "json" if cfg.capabilities.structured else "text"
    return cfg.structured


def judge_pairs(
    role: Role, prompt: str, items: list[PairItem], cfg: RoleConfig, label: str, both_orders: bool = True
) -> Judged:
    """Judge every pair in both orders (or with `a` first only, as an ablation), asking again
    (a new sample) where a reply won't parse."""
    mode = first_mode(cfg)
    order_names = ("a_first", "b_first") if both_orders else ("a_first",)
    orders = [(i, o) for i in range(len(items)) for o in order_names]
    parsed: dict[tuple[int, str], tuple[float, float]] = {}
    raw: dict[tuple[int, str], str] = {}
    errors: dict[tuple[int, str], str] = {}
    read_as: dict[tuple[int, str], str] = {}
    notes: list[str] = []
    pending, attempt, asked_again = list(orders), 0, 0
    while pending and attempt <= cfg.parse_retries:
        schema = SCHEMA_TEXT if mode == "json" else None
        calls = [Call(_order_messages(prompt, mode, items, k), attempt, schema) for k in pending]
        outs = role.run(calls, _label(label, attempt))
        if cfg.structured == "auto" and mode == "json" and outs and all(isinstance(o, Failed) for o in outs):
            notes.append(f"the endpoint refused structured output ({outs[0].reason}); scores are read from text")
            mode = "text"
            continue
        still = []
        for k, out in zip(pending, outs):
            if isinstance(out, Failed):  # the endpoint rejected the request: asking again won't help
                raw[k], errors[k] = "", f"the call was rejected: {out.reason}"
                continue
            raw[k] = out.text
            judged = _shown(items[k[0]])
            try:
                if out.finish_reason == "length":  # the scores may be cut off, or quoted text left last
                    raise ScoreParseError(f"the reply was cut off at max_tokens ({cfg.decoding.max_tokens})")
                parsed[k], read_as[k] = read_verdict(out.text, mode, judged)
                errors.pop(k, None)
            except ScoreParseError as e:
                errors[k] = str(e)
                still.append(k)
        pending, attempt = still, attempt + 1
        asked_again += len(still) if attempt <= cfg.parse_retries else 0
    verdicts = [_verdict(it, i, parsed, raw, errors, cfg.parse_retries, both_orders) for i, it in enumerate(items)]
    counts = dict(Counter(read_as.values()))
    if mode == "json" and counts.get("text"):
        notes.append(f"{counts['text']} of {sum(counts.values())} replies held no JSON though the schema was sent "
                     "(the server may ignore response_format); their scores were read from text")
    return Judged(verdicts, _reported_mode(mode, counts), asked_again, notes, counts)


def _reported_mode(asked: str, read_as: dict[str, int]) -> str:
    """The judging mode as it happened, for bias.json and the held-out scores: asking for json
    proves nothing when a server silently drops the schema, so the replies decide."""
    as_text, total = read_as.get("text", 0), sum(read_as.values())
    if asked != "json" or not as_text:
        return asked
    if as_text == total:
        return "json (ignored by the server: read as text)"
    return f"json ({as_text} of {total} replies were not JSON: read as text)"


def _order_messages(prompt: str, mode: str, items: list[PairItem], key: tuple[int, str]) -> list[Message]:
    it = items[key[0]]
    first, second = (it.a, it.b) if key[1] == "a_first" else (it.b, it.a)
    return comparison_messages(prompt, mode, it, first, second)


def _shown(item: PairItem) -> tuple[str, ...]:
    return (item.instruction, item.input, item.a, item.b)


def _label(label: str, attempt: int) -> str:
    return label if attempt == 0 else f"{label} (asked again, {attempt})"


def _verdict(it: PairItem, i: int, parsed: dict, raw: dict, errors: dict, retries: int, both_orders: bool) -> Verdict:
    v = Verdict(it.id, raw_a_first=raw.get((i, "a_first"), ""), raw_b_first=raw.get((i, "b_first"), ""))
    af, bf = parsed.get((i, "a_first")), parsed.get((i, "b_first"))
    if af is not None and not both_orders:
        v.a_first, (v.a_score, v.b_score) = af, af
        return v
    if af is None or bf is None:
        order = "a_first" if af is None else "b_first"
        shown = "teacher-first" if order == "a_first" else "student-first"
        v.error = f"no scores in the {shown} order after {retries + 1} tries: {errors[(i, order)]}"
        return v
    v.a_first, v.b_first = af, (bf[1], bf[0])
    v.a_score = (af[0] + bf[1]) / 2
    v.b_score = (af[1] + bf[0]) / 2
    return v
