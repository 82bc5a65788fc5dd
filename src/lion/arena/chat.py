"""The arena as a chat model: teacher, referee, judge and generator behind the ChatModel protocol.

Each role reads only the messages it is sent, the way an LLM reads a prompt: it finds the
sections of our templates by their visible markers and the task by its words. Nothing travels
on a side channel, so the rest of the project cannot tell the arena from a real endpoint, and
the same code paths are exercised offline.

Replies are deterministic per request: every random choice comes from a `random.Random`
seeded by a hash of (model, messages, decoding, sample), never from global state or call
order, so a cached and a fresh answer agree and a different `sample` draws anew. At
temperature 0 the teacher and the reviewers take their most likely wording and the reviewers
add no score noise; the generator keeps sampling (it is never run greedily in practice), and
malformed replies keep their configured rate at every temperature.

Reviewer replies (referee and judge) that are malformed on purpose, at `malformed_rate`, take
one of these shapes, all of which real models produce:
  - "Assistant 1: 8/10" lines;
  - the two scores alone on a final line, "8 3";
  - markdown bold, "**Assistant 1 score:** 8";
  - decimals, "Assistant 1 score: 7.5";
  - both scores on one line, "Assistant 1 score: 8, Assistant 2 score: 3";
  - more rarely, no usable pair: a refusal, or only Assistant 1's score.

Asked for structured output (`Decoding.json_schema`), the reviewers reply with a JSON object
that follows the schema as a model under constrained decoding does: the schema's `properties`
in the order they appear, the first string-typed one holding the explanation and the first two
number- or integer-typed ones the two scores (Assistant 1's first), as whole numbers. The
schema shapes only how the verdict is written, so it stays out of the request's seed: the same
request with and without a schema draws the same scores and the same explanation. A schema
with fewer than two number-typed properties gets an object with what it can fill, never
malformed on purpose, and so does a prompt without two answers (an explanation saying so, no
scores); the reviewer's parser rejects both. JSON replies that are
malformed on purpose, at the same `malformed_rate` and on the same draw as in text mode, take
one of these shapes, all of which real servers produce:
  - the object inside a markdown fence: a "```json" line, the object, a "```" line (servers
    that do not enforce the schema);
  - the object cut off part way, '{"assistant_1_score": 8, "assis' (finish_reason "stop");
  - a refusal in plain text, no JSON at all;
  - one score out of range, 0 or 11;
  - both scores as strings, "8" instead of 8.
An answer that holds score lines of its own ("Assistant 2 score: 10") is called out the way
careful judges do: the explanation ends by quoting those lines, as plain lines, a "> " block
quote or a fenced block, and the verdict follows as usual, malformed or not, except that in
text mode three replies in ten are derailed by the quote and end there, with no verdict of their
own. The reviewer's scores never depend on such lines; only a parser that took the quote for the
verdict would. Replies about answers without such lines draw exactly as before.

Generator replies that are malformed on purpose are of the kinds the method's filters catch:
a reply that mentions the word "instruction", a rambling reply cut off by `max_tokens`, a
fragment of three words or fewer, a reply that starts with punctuation or with a non-ASCII
character, and a near copy of the example.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from collections.abc import Callable, Sequence
from typing import Literal

from lion.arena import phrases
from lion.arena.world import Task, answer_phrasings, grade, is_wide, parse, write_task
from lion.core.chat import Completion, Decoding, Message, Usage
from lion.core.config import ArenaOptions, RoleConfig
from lion.core.cpu_time import metered
from lion.core.errors import LionError

_INPUT_MARK = re.compile(r"\n[ \t]*\n[ \t]*Input:[ \t]*\n")
_COMPARISON = re.compile(
    r"^\[Request\][ \t]*\n(?P<request>.*?)\n[ \t]*\[End of Request\][ \t]*$"
    r".*?^\[Assistant 1\][ \t]*\n(?P<a1>.*?)\n[ \t]*\[End of Assistant 1\][ \t]*\n"
    r"\s*\[Assistant 2\][ \t]*\n"
    r"(?P<a2>.*)\n[ \t]*\[End of Assistant 2\][ \t]*$",
    re.DOTALL | re.MULTILINE,
)
_RARER = re.compile(r"\b(rarer|less common|long[- ]tail|uncommon|obscure)\b", re.IGNORECASE)

_VERDICT_SHAPES = ("slash", "pair", "bold", "decimal", "one_line", "refusal", "single")
_VERDICT_WEIGHTS = (2, 2, 2, 2, 1, 0.5, 0.5)
_JSON_SHAPES = ("fence", "cut", "refusal", "out_of_range", "string_scores")
_JSON_WEIGHTS = (2, 1, 0.5, 1, 1)
_TASK_SLIPS = ("mention", "ramble", "fragment", "punctuation", "non_ascii", "near_copy")


@dataclasses.dataclass(frozen=True)
class _Call:
    """What a role sees of one request: the last user message and how to decode."""

    prompt: str
    decoding: Decoding
    options: ArenaOptions
    rng: random.Random

    @property
    def greedy(self) -> bool:
        return self.decoding.temperature == 0

    def pick(self, options: Sequence[str]) -> str:
        """The most likely option at temperature 0, else a random one."""
        return options[0] if self.greedy else self.rng.choice(options)


class ArenaChatModel:
    """One arena role, chosen by model name: arena-teacher, -referee, -judge or -generator."""

    def __init__(self, model: str, options: ArenaOptions) -> None:
        if model not in _ROLES:
            raise ValueError(f"unknown arena model {model!r}; choose one of {', '.join(_ROLES)}")
        self._model = model
        self._options = options

    @classmethod
    def from_role(cls, role: str, cfg: RoleConfig, threads: int) -> ArenaChatModel:
        """The arena model a role's config names; a name it has no role for is refused here."""
        try:
            return cls(cfg.model, cfg.arena)
        except ValueError as e:
            raise LionError(f"{role}.model: {e}.") from None

    @property
    def name(self) -> str:
        return self._model

    async def complete(
        self, messages: list[Message], decoding: Decoding, sample: int = 0
    ) -> Completion:
        # a schema changes how the reply is written, not what is concluded: it stays out of the seed
        with metered("arena"):  # no await inside: the block is this call's simulated LLM work alone
            unshaped = dataclasses.replace(decoding, json_schema=None)
            rng = random.Random(_request_seed(self._model, messages, unshaped, sample))
            prompt = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
            text = _ROLES[self._model](_Call(prompt, decoding, self._options, rng))
            return _finish(text, messages, decoding.max_tokens)

    async def check(self) -> None:
        """Nothing can be missing: the arena runs in this process, needs no key, and its model
        name was checked when it was built."""

    async def aclose(self) -> None:
        """Nothing to release: the arena holds no connections."""


def _request_seed(model: str, messages: list[Message], decoding: Decoding, sample: int) -> int:
    key = json.dumps([model, list(messages), decoding.identity(), sample], sort_keys=True)
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def _finish(text: str, messages: list[Message], max_tokens: int) -> Completion:
    """Cut the reply at `max_tokens` words, as a real endpoint cuts at its token limit."""
    spans = list(re.finditer(r"\S+", text))
    reason: Literal["stop", "length"] = "stop"
    if len(spans) > max_tokens:
        text, reason = text[: spans[max_tokens - 1].end()] if max_tokens else "", "length"
    usage = Usage(sum(len(m["content"].split()) for m in messages), min(len(spans), max_tokens))
    return Completion(text, reason, usage)


def _split_request(text: str) -> tuple[str, str]:
    """(instruction, input) from our teacher layout: the input follows a blank line and "Input:"."""
    marks = list(_INPUT_MARK.finditer(text))
    if not marks:
        return text.strip(), ""
    return text[: marks[-1].start()].strip(), text[marks[-1].end() :].strip()


# --- teacher --------------------------------------------------------------------------------


def _teacher(call: _Call) -> str:
    task = parse(*_split_request(call.prompt))
    return call.pick(answer_phrasings(task) if task else phrases.TEACHER_FALLBACKS)


# --- referee and judge ----------------------------------------------------------------------


def _read_comparison(prompt: str) -> tuple[str, str, str] | None:
    """The request and both answers, found by their marker lines.

    The first answer runs to the first "[End of Assistant 1]" line that is followed by the
    "[Assistant 2]" line, the second to the last "[End of Assistant 2]" line, so answers that
    contain brackets, or even marker lines of their own, are read whole.
    """
    match = _COMPARISON.search(prompt)
    return (match["request"].strip(), match["a1"].strip(), match["a2"].strip()) if match else None


def _band(task: Task | None, mark: float) -> str:
    if task is None:
        return "plain" if mark >= 5 else "terse" if mark >= 3 else "junk"
    if mark >= 9:
        return "right"
    if mark >= 5:
        return "cluttered"
    return "wrong" if mark >= 3 else "off" if mark >= 2 else "junk"


def _explain(call: _Call, task: Task | None, mark_1: float, mark_2: float) -> str:
    """Two or three sentences: one per answer, plus an opener or a verdict."""
    about = [
        call.pick(phrases.REVIEW[_band(task, m)]).format(i=i) for i, m in ((1, mark_1), (2, mark_2))
    ]
    if mark_1 == mark_2:
        verdict = call.pick(phrases.REVIEW_TIE)
    else:
        verdict = call.pick(phrases.REVIEW_PREFERENCE).format(w=1 if mark_1 > mark_2 else 2)
    if not call.greedy and call.rng.random() < 0.4:
        return " ".join([call.pick(phrases.REVIEW_OPENERS), *about])
    return " ".join([*about, verdict])


def _score(call: _Call, mark: float) -> float:
    noisy = mark if call.greedy else call.rng.gauss(mark, call.options.noise)
    return min(10.0, max(1.0, noisy))


def _review(call: _Call) -> str:
    # every draw up to the explanation is shared by text and JSON replies; mode-specific ones follow
    malformed = call.rng.random() < call.options.malformed_rate
    found = _read_comparison(call.prompt)
    schema = call.decoding.json_schema
    if found is None:
        apology = call.pick(phrases.NO_COMPARISON)
        return apology if schema is None else json.dumps(_Form.of(schema).fill(apology, ()))
    request, answer_1, answer_2 = found
    task = parse(*_split_request(request))
    mark_1, mark_2 = grade(task, answer_1), grade(task, answer_2)
    score_1 = _score(call, mark_1 + call.options.position_bias)
    score_2 = _score(call, mark_2)
    explanation = _explain(call, task, mark_1, mark_2)
    quote = _call_out(call, answer_1, answer_2)
    if schema is not None:
        return _json_verdict(call, _Form.of(schema), malformed, explanation + quote, (score_1, score_2))
    if quote and call.rng.random() < _DERAILED:
        return explanation + quote
    explanation += quote
    if malformed:
        shape = call.rng.choices(_VERDICT_SHAPES, weights=_VERDICT_WEIGHTS)[0]
        return _malformed_verdict(call, shape, explanation, score_1, score_2)
    return (
        f"{explanation}\n\nAssistant 1 score: {round(score_1)}\nAssistant 2 score: {round(score_2)}"
    )


_DERAILED = 0.3  # share of text replies that quote planted scores and then forget their own verdict
_PLANTED = re.compile(r"^\W*assistant\s*[12]\b.*\d", re.IGNORECASE)


def _call_out(call: _Call, *answers: str) -> str:
    """The score-like lines an answer plants, quoted after a sentence naming it; else nothing."""
    for i, answer in enumerate(answers, 1):
        planted = [ln.strip() for ln in answer.splitlines() if _PLANTED.match(ln.strip())]
        if planted:
            style = call.pick(("plain", "quote", "fence"))
            body = "\n".join(f"> {ln}" if style == "quote" else ln for ln in planted)
            quoted = f"```\n{body}\n```" if style == "fence" else body
            return f" {call.pick(phrases.PLANTED_SCORES).format(i=i)}\n{quoted}"
    return ""


def _malformed_verdict(
    call: _Call, shape: str, explanation: str, score_1: float, score_2: float
) -> str:
    """The verdict in one of the off-format shapes listed in the module docstring."""
    s1, s2 = round(score_1), round(score_2)
    half_1, half_2 = round(score_1 * 2) / 2, round(score_2 * 2) / 2
    closing = {
        "slash": f"Assistant 1: {s1}/10\nAssistant 2: {s2}/10",
        "pair": f"{s1} {s2}",
        "bold": f"**Assistant 1 score:** {s1}\n**Assistant 2 score:** {s2}",
        "decimal": f"Assistant 1 score: {half_1:.1f}\nAssistant 2 score: {half_2:.1f}",
        "one_line": f"Assistant 1 score: {s1}, Assistant 2 score: {s2}",
        "single": f"Assistant 1 score: {s1}",
    }
    if shape == "refusal":
        return call.pick(phrases.REFUSALS)
    return f"{explanation}\n\n{closing[shape]}"


@dataclasses.dataclass(frozen=True)
class _Form:
    """Where a JSON schema has the reviewer write: the explanation's key, the score keys."""

    keys: tuple[str, ...]  # the properties in the schema's order
    text: str | None  # the first string-typed property
    scores: tuple[str, ...]  # the first two number- or integer-typed ones, in order

    @classmethod
    def of(cls, schema: str) -> _Form:
        try:
            parsed = json.loads(schema)
        except json.JSONDecodeError:
            parsed = None
        properties = parsed.get("properties") if isinstance(parsed, dict) else None
        if not isinstance(properties, dict):
            properties = {}
        text, scores = None, []
        for key, spec in properties.items():
            kinds = _types(spec)
            if "string" in kinds and text is None:
                text = key
            elif kinds & {"number", "integer"} and len(scores) < 2:
                scores.append(key)
        return cls(tuple(properties), text, tuple(scores))

    @property
    def usable(self) -> bool:
        return len(self.scores) == 2

    def fill(self, explanation: str, scores: Sequence[object]) -> dict[str, object]:
        """The object in the schema's key order, with what there is to put in it."""
        values: dict[str, object] = dict(zip(self.scores, scores))
        if self.text is not None:
            values[self.text] = explanation
        return {key: values[key] for key in self.keys if key in values}


def _types(spec: object) -> set[str]:
    """A property's JSON types: "type" may be one name or a list of them."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    if isinstance(kind, str):
        return {kind}
    return {k for k in kind if isinstance(k, str)} if isinstance(kind, list) else set()


def _json_verdict(
    call: _Call, form: _Form, malformed: bool, explanation: str, scores: tuple[float, float]
) -> str:
    """The verdict as a JSON object following the schema; off-format as in the module docstring."""
    # rounded as in the text verdict: an int, which integer- and number-typed properties both take
    whole = [round(s) for s in scores]
    if not (malformed and form.usable):
        return json.dumps(form.fill(explanation, whole))
    shape = call.rng.choices(_JSON_SHAPES, weights=_JSON_WEIGHTS)[0]
    if shape == "refusal":
        return call.pick(phrases.REFUSALS)
    if shape == "out_of_range":
        which = call.rng.randrange(2)
        whole[which] = 0 if whole[which] <= 5 else 11
    values: Sequence[object] = [str(s) for s in whole] if shape == "string_scores" else whole
    body = json.dumps(form.fill(explanation, values))
    if shape == "fence":
        return f"```json\n{body}\n```"
    if shape == "cut":
        return body[: call.rng.randrange(1, len(body) - 1)]  # any proper prefix is invalid JSON
    return body


# --- generator ------------------------------------------------------------------------------


def _read_example(prompt: str) -> tuple[str, str] | None:
    """The (instruction, input) between the example markers, or None when there is none."""
    match = re.search(r"\[Example Task\]\s*\n(.*?)\n\s*\[End of Example Task\]", prompt, re.DOTALL)
    return _split_request(match[1]) if match else None


def _generator(call: _Call) -> str:
    slip = call.rng.random() < call.options.malformed_rate
    example = _read_example(call.prompt)
    mode = "easy" if _RARER.search(call.prompt) else "hard"
    task = parse(*example) if example else None
    new, _ = write_task(task, mode, call.rng, allow_input=False, wide=bool(example) and is_wide(example[0]))
    if slip:
        return _task_slip(call, call.rng.choice(_TASK_SLIPS), new, example)
    return new


def _task_slip(call: _Call, kind: str, new: str, example: tuple[str, str] | None) -> str:
    """The new task spoiled in one of the ways listed in the module docstring."""
    rng = call.rng
    if kind == "mention":
        return f"{rng.choice(phrases.INSTRUCTION_LEADS)} {new}"
    if kind == "ramble":
        return _ramble(rng, call.decoding.max_tokens) + " " + new
    if kind == "fragment":
        return " ".join(new.split()[-rng.randint(1, 3) :])
    if kind == "punctuation":
        return rng.choice(phrases.PUNCTUATION_MARKS) + new
    if kind == "non_ascii":
        return rng.choice(phrases.NON_ASCII_MARKS) + new
    copied = example[0] if example else new
    return copied + rng.choice(phrases.NEAR_COPY_TAILS)


def _ramble(rng: random.Random, max_tokens: int) -> str:
    """A preamble longer than the token limit, so the reply is cut before the task appears."""
    parts = [phrases.RAMBLE_OPENING]
    while sum(len(p.split()) for p in parts) <= max_tokens:
        parts.append(rng.choice(phrases.RAMBLE))
    return " ".join(parts)


_ROLES: dict[str, Callable[[_Call], str]] = {
    "arena-teacher": _teacher,
    "arena-referee": _review,
    "arena-judge": _review,
    "arena-generator": _generator,
}

MODELS: tuple[str, ...] = tuple(_ROLES)  # the model names an arena endpoint serves
