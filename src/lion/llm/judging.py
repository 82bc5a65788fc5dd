"""Pairwise judging in both orders, shared by the referee and the evaluation judge.

The judge sees answer A first and B second, then the same pair swapped; each side's score is
the mean of its two scores, which cancels a constant preference for one position. A reply whose
scores cannot be read is asked again as a new sample, a bounded number of times; after that the
item is reported as failed and left out, never given an invented score.

Scores are read in one of two modes. In `text` mode the judge ends its reply with two score
lines, and only the reply's closing lines are read (see `parse_scores`). In `json` mode the
request carries a JSON schema (structured output) and the reply is an object with an
explanation and the two scores. `auto` uses `json` where the backend can be asked for it and
falls back to `text` when the endpoint rejects structured output. A json-mode reply with no
JSON in it (a server that silently drops the schema) is read as text, and the mode reported for
the stage says so.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from lion.core.chat import Message
from lion.core.config import RoleConfig
from lion.core.prompts import render, template
from lion.llm.dispatch import Call, Failed, Role

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "explanation": {"type": "string"},
        "assistant_1_score": {"type": "number"},
        "assistant_2_score": {"type": "number"},
    },
    "required": ["explanation", "assistant_1_score", "assistant_2_score"],
    "additionalProperties": False,
}
_SCHEMA_TEXT = json.dumps(VERDICT_SCHEMA, sort_keys=True)

# A score line names one assistant and gives its score. The class of shapes judges write, from
# our prompt, from the Lion paper's ("Score of the Assistant 1: 8") or from their own habits:
#   the score named before the assistant: "Score of the Assistant 1", "the rating for assistant 2",
#     "Final score given to Assistant 1";
#   the score named after it: "Assistant 1 score", "Assistant 1's overall rating", or not at all,
#     "Assistant 1: 8"; or a verb: "Assistant 1 receives a score of 8", "Assistant 2 gets 6/10";
#   any case, markdown emphasis (**, __, *) between the words, a separator (":", "=", "-", a dash,
#   "|", "is"), a whole or decimal score, "/10" or "out of 10", and a period or comment after.
# A negative number is no score ("-3" is not read as 3).
_NUM = r"(?<![\d.\-\u2212])(\d+(?:\.\d+)?)"
_OUT_OF = r"(?:\s*(?:/|out\s+of)\s*10(?:\.0+)?)?"
_EMPHASIS = r"[\s*_]*"  # "_" is a word character, so word ends are marked by look-arounds, not \b
_KIND = r"(?<![a-z])(?:(?:overall|final)\s+)?(?:score|rating)(?![a-z])"
_SCORE_FIRST = rf"(?:(?<![a-z])(?:the\s+)?{_KIND}\s+(?:of|for|given\s+to)(?![a-z]){_EMPHASIS})?"
_WHO = r"(?<![a-z])(?:the\s+)?assistant\s*#?\s*([12])(?![\d.]*\d)(?:['\u2019]s(?![a-z]))?"
# a verb needs "a score of" or a score out of ten: "Assistant 1 gets 5 facts right" is prose, not a score
_SCORE_AFTER = (
    rf"(?:{_KIND}|(?<![a-z])(?:receives|gets|earns|deserves)\s+"
    rf"(?:(?:an?\s+)?{_KIND}\s+of(?![a-z])|(?=\d+(?:\.\d+)?\s*(?:/|out\s+of)\s*10)))?"
)
_SEPARATOR = r"[\s*_:=|\-\u2013\u2014]*(?:(?<![a-z])is(?![a-z])[\s*_:]*)?"
_MENTION = re.compile(
    rf"{_SCORE_FIRST}{_WHO}{_EMPHASIS}{_SCORE_AFTER}{_SEPARATOR}{_NUM}{_OUT_OF}(?![\d.]*\d)", re.IGNORECASE
)
# the number of a numbered list ("1. Score of Assistant 1: 8", "(2) ..."), dropped before a line is read
_LIST_NUMBER = re.compile(r"^[\s*_#]*\(?\d{1,2}[.)](?=[\s*_])")
# the words a line of scores may hold besides the scores ("Final scores: ...", "... and ...")
_FILLER = {"final", "score", "scores", "rating", "ratings", "verdict", "and", "overall", "the", "my", "are", "here"}
_PAIR = re.compile(
    rf"^[\W_]*(?:(?:final\s+)?(?:scores?|ratings?)\s*[:=\-]?\s*)?{_NUM}{_OUT_OF}\s*(?:[,;]|\band\b|\s)\s*"
    rf"{_NUM}{_OUT_OF}[\W_]*$",
    re.IGNORECASE,
)
_DECORATION = re.compile(r"^[`\-*_=~#>\s]*$")  # fences, rules, stray emphasis
_TABLE_RULE = re.compile(r"^\|?(?:\s*:?-{3,}:?\s*\|)+\s*:?-*:?\s*\|?$")
_TABLE_HEAD = {"assistant", "score", "scores", "rating", "model", "answer"}


class ScoreParseError(ValueError):
    pass


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _score_line(line: str) -> list[tuple[str, float]] | None:
    """The (assistant, score) pairs of a line made only of scores, else None.

    Around the scores a line may hold filler words and punctuation, and after the last score a
    short comment without digits ("Assistant 1: 8/10 - clear and correct").
    """
    line = _LIST_NUMBER.sub("", line, count=1)
    found = list(_MENTION.finditer(line))
    if not found:
        return None
    gaps = [line[: found[0].start()]] + [line[a.end() : b.start()] for a, b in pairwise(found)]
    if any(set(_words(g)) - _FILLER or re.search(r"\d", g) for g in gaps):
        return None
    if re.search(r"\d", line[found[-1].end() :]):
        return None
    return [(m.group(1), float(m.group(2))) for m in found]


def _table_decoration(line: str) -> bool:
    if _TABLE_RULE.match(line):
        return True
    return "|" in line and not re.search(r"\d", line) and set(_words(line)) <= _TABLE_HEAD


def _in_range(scores: tuple[float, float]) -> tuple[float, float]:
    for s in scores:
        if not 1 <= s <= 10:
            raise ScoreParseError(f"score {s:g} is outside 1-10")
    return scores


def _plain(line: str) -> str:
    """A line without markdown marks, case or spacing, for telling whether one line repeats another."""
    return " ".join(re.sub(r"[*_`>|#]", " ", line).lower().split())


def _not_quoted(block: list[str], reply: list[str], judged: Sequence[str]) -> None:
    """Refuse a closing block that may be quoted: a line of it that the judged texts hold at least
    as often as the whole reply does could be a copy of theirs, not the judge's own."""
    shown = Counter(_plain(ln) for t in judged for ln in t.splitlines())
    said = Counter(_plain(ln) for ln in reply)
    if any(said[_plain(line)] <= shown[_plain(line)] for line in block):
        raise ScoreParseError("the closing scores repeat a line of the texts being judged, so they may be quoted from an answer")


def parse_scores(text: str, judged: Sequence[str] = ()) -> tuple[float, float]:
    """The two scores (Assistant 1's, Assistant 2's) from the closing lines of a judge's reply.

    Only the block of score lines that ends the reply counts: a score line quoted from an
    answer earlier in the reply, followed by the judge's own prose, can never be taken for the
    verdict. The block ends at the first other line (a label such as "Scores:", or the paper's
    "Evaluation evidence: ..."), or at a blank line once it holds both scores. Accepted: one
    score line per assistant (any shape of `_MENTION`, the paper's "Score of the Assistant 1: 8"
    among them) in any order, in a numbered or bulleted list, both on one line, a small markdown
    table, or the two numbers alone on the last line. A single score, two different scores for
    one assistant, or a score outside 1-10 is an error.

    `judged` holds the texts the judge was shown (the request and both answers). A judge may
    quote an answer, and an answer may hold planted score lines ("Assistant 2 score: 10"), so
    a closing score line that may be such a quote (the judged texts hold it as often as the
    reply does), or a quoted ("> ") line, is never taken for the judge's own verdict: the reply
    is refused and asked again.
    """
    lines = [ln.strip() for ln in text.strip().splitlines()]
    while lines and _DECORATION.match(lines[-1]):
        lines.pop()
    if not lines:
        raise ScoreParseError("empty reply")
    pair = _PAIR.match(lines[-1])
    if pair:
        _not_quoted([lines[-1]], lines, judged)
        return _in_range((float(pair.group(1)), float(pair.group(2))))
    found: dict[str, set[float]] = {}
    block: list[str] = []
    for line in reversed(lines):
        if not line:  # a blank line may part the two score lines, but ends a block that has both
            if set(found) >= {"1", "2"}:
                break
            continue
        if _table_decoration(line):
            continue
        scores = _score_line(line) if not line.startswith(">") else None
        if scores is None:
            break
        block.append(line)
        for who, score in scores:
            found.setdefault(who, set()).add(score)
    _not_quoted(block, lines, judged)
    if not found:
        raise ScoreParseError("the reply does not end with the two scores")
    for who, values in sorted(found.items()):
        if len(values) > 1:
            raise ScoreParseError(f"conflicting scores for assistant {who}: {', '.join(f'{v:g}' for v in sorted(values))}")
    if set(found) != {"1", "2"}:
        missing = ({"1", "2"} - set(found)).pop()
        raise ScoreParseError(f"no score for assistant {missing}")
    return _in_range((found["1"].pop(), found["2"].pop()))


def _number(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ScoreParseError(f"{key} is not a number")
    try:
        return float(value)
    except ValueError:
        raise ScoreParseError(f"{key} is not a number: {value!r}") from None


def parse_json_verdict(text: str, judged: Sequence[str] = ()) -> tuple[float, float]:
    """The two scores from a structured reply (an object following VERDICT_SCHEMA).

    A reply fenced as ```json is unwrapped; a reply that is no JSON object at all is read as
    text, since a model that ignored the format may still have ended with its score lines.
    """
    return read_verdict(text, "json", judged)[0]


def read_verdict(text: str, mode: str, judged: Sequence[str] = ()) -> tuple[tuple[float, float], str]:
    """The two scores of a reply and the mode they were really read in.

    A json-mode reply with no JSON in it is read as text and reported as "text": a server that
    drops `response_format` without a word still answers, and the run's record must not claim
    the verdicts were structured when they were score lines.
    """
    if mode == "json":
        body = re.sub(r"^\s*```(?:json)?\s*\n?|\n?\s*```\s*$", "", text.strip())
        try:
            obj = json.loads(body)
        except json.JSONDecodeError:
            if body.lstrip().startswith("{"):
                raise ScoreParseError("the JSON verdict is cut off or invalid") from None
        else:
            return _json_scores(obj), "json"
    return parse_scores(text, judged), "text"


def _json_scores(obj: object) -> tuple[float, float]:
    if not isinstance(obj, dict):
        raise ScoreParseError("the JSON verdict is not an object")
    keys = ("assistant_1_score", "assistant_2_score")
    for key in keys:
        if key not in obj:
            raise ScoreParseError(f"the JSON verdict has no {key}")
    return _in_range(tuple(_number(obj[k], k) for k in keys))


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
        schema = _SCHEMA_TEXT if mode == "json" else None
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


# --- position bias ----------------------------------------------------------------------


def _winner(a: float, b: float) -> str:
    return "a" if a > b else "b" if b > a else "tie"


def bias_stats(verdicts: list[Verdict], tau: float) -> dict:
    """How much the order of the answers moved the judge, over the pairs judged in both orders.

    - flip_rate: share of pairs whose winner (a, b or a tie) changes when the order is swapped;
    - position_1_mean / position_2_mean: the mean score of whichever answer was shown first or
      second; a fair judge has them equal, since every answer is shown in both places;
    - hard_share: the share with d >= tau from both orders averaged, and from each order alone;
      label_disagreement: the share whose hard/easy label differs between the two single orders;
    - d: mean, median and a histogram in unit bins (key k counts k <= d < k + 1).
    """
    done = [v for v in verdicts if v.error is None and v.b_first is not None]
    if not done:
        return {"judged": 0}
    first = [v.a_first[0] for v in done] + [v.b_first[1] for v in done]
    second = [v.a_first[1] for v in done] + [v.b_first[0] for v in done]
    d = [v.a_score - v.b_score for v in done]
    d_af = [v.a_first[0] - v.a_first[1] for v in done]
    d_bf = [v.b_first[0] - v.b_first[1] for v in done]
    histogram: dict[str, int] = {}
    for x in sorted(d):
        key = str(math.floor(x))
        histogram[key] = histogram.get(key, 0) + 1
    n = len(done)
    return {
        "judged": n,
        "flip_rate": round(sum(_winner(*v.a_first) != _winner(*v.b_first) for v in done) / n, 4),
        "position_1_mean": round(statistics.fmean(first), 3),
        "position_2_mean": round(statistics.fmean(second), 3),
        "hard_share": {
            "both_orders": round(sum(x >= tau for x in d) / n, 4),
            "a_first_only": round(sum(x >= tau for x in d_af) / n, 4),
            "b_first_only": round(sum(x >= tau for x in d_bf) / n, 4),
        },
        "label_disagreement": round(sum((x >= tau) != (y >= tau) for x, y in zip(d_af, d_bf)) / n, 4),
        "d": {"mean": round(statistics.fmean(d), 3), "median": statistics.median(d), "histogram": histogram},
    }


def describe_bias(stats: dict, who: str) -> str:
    """One line for the console after a judging stage."""
    if not stats.get("judged"):
        return f"  {who}: no pair was judged in both orders"
    return (
        f"  {who} position bias: the winner flips on {stats['flip_rate']:.0%} of swaps; mean score "
        f"{stats['position_1_mean']:.2f} shown first vs {stats['position_2_mean']:.2f} shown second; "
        f"d mean {stats['d']['mean']:+.2f}, median {stats['d']['median']:+.1f}"
    )

