"""Pairwise judging in both orders, shared by the referee and the evaluation judge.

The judge sees answer A first and B second, then the same pair swapped; each side's score is
the mean of its two scores, which cancels a constant preference for one position. A reply whose
scores cannot be read is asked again as a new sample, a bounded number of times; after that the
item is reported as failed and left out, never given an invented score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lion.llm.base import Message
from lion.llm.dispatch import Call, Failed, Role
from lion.prompts import render, template

_NUM = r"(\d+(?:\.\d+)?)"
_SCORE_LINE = re.compile(
    rf"^\W*assistant\s*([12])\W*(?:score)?\W*?[:=\-]\W*{_NUM}\s*(?:/\s*10)?\W*$", re.IGNORECASE
)
_PAIR_LINE = re.compile(rf"^\W*{_NUM}\s*[,;/ ]\s*{_NUM}\W*$")


class ScoreParseError(ValueError):
    pass


def parse_scores(text: str) -> tuple[float, float]:
    """Read the two scores from the judge's closing lines only.

    Only lines after the last line that is not a score line count, so a score line quoted
    inside an answer earlier in the reply can never be taken for the verdict.
    """
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        raise ScoreParseError("empty reply")
    pair = _PAIR_LINE.match(lines[-1])
    if pair:
        scores = (float(pair.group(1)), float(pair.group(2)))
    else:
        found: dict[str, float] = {}
        for line in reversed(lines):
            m = _SCORE_LINE.match(line)
            if not m:
                break
            if m.group(1) in found:
                raise ScoreParseError(f"two score lines for assistant {m.group(1)}")
            found[m.group(1)] = float(m.group(2))
        if set(found) != {"1", "2"}:
            raise ScoreParseError("the reply does not end with a score for each assistant")
        scores = (found["1"], found["2"])
    for s in scores:
        if not 1 <= s <= 10:
            raise ScoreParseError(f"score {s:g} is outside 1-10")
    return scores


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


def _messages(prompt: str, item: PairItem, first: str, second: str) -> list[Message]:
    return [
        {"role": "system", "content": template(f"{prompt}_system").strip()},
        {
            "role": "user",
            "content": render(
                prompt, instruction=item.instruction, input=item.input, answer_1=first, answer_2=second
            ),
        },
    ]


def judge_pairs(role: Role, prompt: str, items: list[PairItem], retries: int, label: str) -> list[Verdict]:
    """Judge every pair in both orders, asking again (new sample) where a reply won't parse."""
    calls: dict[tuple[int, str], list[Message]] = {}
    for i, it in enumerate(items):
        calls[(i, "a_first")] = _messages(prompt, it, it.a, it.b)
        calls[(i, "b_first")] = _messages(prompt, it, it.b, it.a)
    parsed: dict[tuple[int, str], tuple[float, float]] = {}
    raw: dict[tuple[int, str], str] = {}
    errors: dict[tuple[int, str], str] = {}
    pending = list(calls)
    for attempt in range(retries + 1):
        if not pending:
            break
        suffix = "" if attempt == 0 else f" (retry {attempt})"
        outs = role.run([Call(calls[k], attempt) for k in pending], label + suffix)
        still = []
        for k, out in zip(pending, outs):
            if isinstance(out, Failed):  # the endpoint rejected the request: asking again won't help
                raw[k], errors[k] = "", f"the call was rejected: {out.reason}"
                continue
            raw[k] = out.text
            try:
                parsed[k] = parse_scores(out.text)
                errors.pop(k, None)
            except ScoreParseError as e:
                errors[k] = str(e)
                still.append(k)
        pending = still
    verdicts = []
    for i, it in enumerate(items):
        v = Verdict(it.id, raw_a_first=raw[(i, "a_first")], raw_b_first=raw[(i, "b_first")])
        af, bf = parsed.get((i, "a_first")), parsed.get((i, "b_first"))
        if af is None or bf is None:
            order = "teacher-first" if af is None else "student-first"
            v.error = f"no scores in the {order} order after {retries + 1} tries: {errors[(i, 'a_first' if af is None else 'b_first')]}"
        else:
            v.a_first = af
            v.b_first = (bf[1], bf[0])
            v.a_score = (af[0] + bf[1]) / 2
            v.b_score = (af[1] + bf[0]) / 2
        verdicts.append(v)
    return verdicts
