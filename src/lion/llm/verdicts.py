"""Reading a judge's verdict, the two scores, from its reply.

Scores are read in one of two modes. In `text` mode the judge ends its reply with two score
lines, and only the reply's closing lines are read (see `parse_scores`). In `json` mode the
request carries a JSON schema (structured output) and the reply is an object with an
explanation and the two scores. A json-mode reply with no JSON in it (a server that silently
drops the schema) is read as text, and `read_verdict` says so, for the mode reported for the stage.
A reply whose scores cannot be read raises `ScoreParseError`: it is never given invented scores.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

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
