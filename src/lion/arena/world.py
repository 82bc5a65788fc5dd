"""The arena's world: reading questions, knowing answers, grading replies, writing new tasks.

Pure logic over the tables in `families`, with no I/O, so that every role the arena plays
(teacher, referee, judge, generator) and the evaluation share a single notion of right and wrong.
Everything here reads plain text, the way an LLM reads it: a question is recognised from its
words, never from an id.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from lion.arena import families, phrases
from lion.arena.families import (
    BY_NAME,
    CONTEXTS,
    DOMAIN_CONTEXTS,
    EXTRA,
    FAMILIES,
    GREETINGS,
    PROCEDURES,
    SIGNOFFS,
    STYLES,
    WIDE_ASKED,
    WIDE_HOW,
    WIDE_PLEASE,
    WIDE_REPLY,
    WIDE_SO,
    WIDE_WHEN,
    WIDE_WHO,
    Fact,
    Family,
)
from lion.core.records import instruction_id, normalize

Mode = Literal["hard", "easy"]

_WORD = re.compile(r"[a-z0-9]+")

# How often each optional part of a question is present, and how often the key goes in `input`.
_PART_SHARE = {"greeting": 0.35, "context": 0.85, "style": 0.8, "signoff": 0.35}
_INPUT_SHARE = 0.15

# The seed pool is deliberately uneven, like a real seed set: family weights differ and some
# families show only their common facts, so their rarer facts must come from generation.
_SEED_PLAN: dict[str, tuple[float, tuple[int, ...]]] = {
    "capital": (4.0, (1, 2, 3)),
    "antonym": (3.0, (1, 2)),
    "number_word": (3.0, (1, 2, 3)),
    "animal_sound": (3.0, (1, 2)),
    "past_tense": (2.0, (1, 2, 3)),
    "plural": (2.0, (1, 2)),
    "element_symbol": (2.0, (1, 2)),
    "baby_animal": (2.0, (1,)),
    "continent": (1.5, (1, 2)),
    "currency": (1.0, (1,)),
    "si_unit": (1.0, (1,)),
    "animal_group": (0.7, (1,)),
    "roman_numeral": (0.7, (1,)),
}
# Kinds a config adds (`data.arena_sums`), seeded like a frequent family at every tier.
_EXTRA_PLAN: dict[str, tuple[float, tuple[int, ...]]] = {"sum": (2.0, (1, 2, 3))}
# The procedural kinds (`data.arena_procedures`), every tier seeded, the unlearnable one rarest.
_PROC_PLAN: dict[str, tuple[float, tuple[int, ...]]] = {
    "difference": (1.5, (1, 2, 3)),
    "larger": (1.5, (1, 2, 3)),
    "reverse_words": (1.0, (1, 2, 3)),
    "sort_words": (1.0, (1, 2, 3)),
    "count_words": (1.0, (1, 2, 3)),
    "plural_rule": (1.0, (1, 2, 3)),
    "past_rule": (1.0, (1, 2, 3)),
    "last_letter": (1.0, (1, 2, 3)),
    "product": (0.7, (1, 2, 3)),
}
# One procedural input in this many is held out: no seed and no generated task ever uses it.
_HELD_INPUTS = 4
_SEED_TIER_SHARE = {1: 0.8, 2: 0.15, 3: 0.05}
# One frame (opener, closer) pair in this many is kept for the held-out set only.
_HELD_OUT_FRAMES = 6
# One rarer fact in this many is kept out of the seed pool even where its tier is seeded.
_HELD_BACK_FACTS = 3


# Short English words and contraction pieces ("don't" -> "don", "t") that some answers equal.
_EVERYDAY = frozenset(
    {"a", "i", "s", "t", "d", "m", "ll", "re", "ve", "he", "be", "in", "at", "as", "no", "so", "do"}
    | {"go", "me", "my", "we", "us", "it", "is", "of", "on", "or", "to", "up", "am", "by", "if"}
)


@dataclass(frozen=True)
class Task:
    """One recognised question: which family, which fact, and the answer it calls for."""

    family: str
    key: str
    answer: str
    tier: int
    domain: str


@dataclass(frozen=True)
class _Frame:
    prefix: str
    core: str
    suffix: str


# --- text helpers ---------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Lower-case runs of letters and digits: the unit every comparison here works in."""
    return _WORD.findall(normalize(text))


def _stable(text: str) -> int:
    """A hash that is the same in every process, unlike Python's `hash`."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


def _fill(template: str, slot: str, value: str) -> str:
    """Put `value` in `slot`, turning a preceding "a" into "an" before a vowel."""
    if value[:1].lower() in "aeiou":
        template = re.sub(r"\b([Aa]) (?=" + re.escape(slot) + ")", r"\1n ", template)
    return template.replace(slot, value)


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join(prefix: str, body: str, suffix: str) -> str:
    """A question from its parts; the body starts a sentence unless it follows ':' or ','."""
    if not prefix or prefix[-1] in ".?!":
        body = _capitalize(body)
    return " ".join(part for part in (prefix, body, suffix) if part)


def _task(family: Family, fact: Fact) -> Task:
    return Task(family.name, fact.key, fact.answer, fact.tier, family.domain)


# --- reading questions ----------------------------------------------------------------------


def _slot_pattern(family: Family) -> str:
    """The family's keys as one alternation, longest first so "magnetic flux density" wins."""
    if family.key_pattern:
        return f"(?P<x>{family.key_pattern})"
    keys = sorted({" ".join(words(f.key)) for f in family.facts}, key=len, reverse=True)
    return "(?P<x>" + "|".join(re.escape(k) for k in keys) + ")"


def _core_pattern(core: str, slot: str) -> re.Pattern[str]:
    """A core phrasing as a regex over normalised words, found anywhere in a longer question."""
    before, has_slot, after = core.partition("{x}")
    head = [re.escape(w) for w in words(before)]
    if has_slot and head[-1:] == ["a"]:
        head[-1] = "an?"  # "a {x}" reads "an {x}" before a vowel
    parts = head + ([slot] if has_slot else []) + [re.escape(w) for w in words(after)]
    return re.compile(r"(?:^| )" + " ".join(parts) + r"(?= |$)")


@cache
def _patterns() -> tuple[
    list[tuple[Family, re.Pattern[str]]], list[tuple[Family, re.Pattern[str]]]
]:
    inline, about_input = [], []
    for family in FAMILIES + EXTRA + PROCEDURES:  # the standard kinds first: the others never shadow them
        slot = _slot_pattern(family)
        inline += [(family, _core_pattern(core, slot)) for core in family.cores]
        about_input += [(family, _core_pattern(core, slot)) for core in family.input_cores]
    return inline, about_input


@cache
def _facts_by_key(name: str) -> dict[str, Fact]:
    return {" ".join(words(f.key)): f for f in BY_NAME[name].facts}


def _known(family: Family, key: str) -> Fact | None:
    """The fact a key names: from the family's table, or worked out by its rule."""
    fact = _facts_by_key(family.name).get(key)
    return fact or (family.rule(key) if family.rule else None)


def parse(instruction: str, input: str = "") -> Task | None:
    """The task a question asks, whatever its opener, closer, case or punctuation; else None."""
    text = " ".join(words(instruction))
    inline, about_input = _patterns()
    for family, pattern in inline:
        match = pattern.search(text)
        fact = match and _known(family, match["x"])  # a key pattern may match a non-fact
        if fact:
            return _task(family, fact)
    given = " ".join(words(input))
    for family, pattern in about_input if given else ():
        if pattern.search(text):
            match = re.search(r"(?:^| )" + _slot_pattern(family) + r"(?= |$)", given)
            fact = match and _known(family, match["x"])
            if fact:
                return _task(family, fact)
    return None


# --- answers and grades ---------------------------------------------------------------------


def answer_phrasings(task: Task) -> list[str]:
    """Every way the teacher may phrase the answer; the held-out set's exact-match references."""
    return [_capitalize(_fill(t, "{a}", task.answer)) for t in BY_NAME[task.family].answers]


@cache
def _filler() -> frozenset[str]:
    """Words that frame an answer ("it is the ..."), ignored when spotting a bare wrong answer."""
    framing = {w for f in FAMILIES for t in f.answers for w in words(t.replace("{a}", ""))}
    return frozenset(framing | {"a", "an"})


@cache
def _answers(name: str) -> frozenset[str]:
    """A family's distinct answers, each as its normalised words joined by spaces."""
    return frozenset(" ".join(words(f.answer)) for f in BY_NAME[name].facts)


def _contains(tokens: list[str], part: list[str]) -> bool:
    n = len(part)
    return any(tokens[i : i + n] == part for i in range(len(tokens) - n + 1))


def _repetitive(tokens: list[str]) -> bool:
    """A word said twice in a row, or a long reply made of few distinct words."""
    doubled = any(a == b for a, b in zip(tokens, tokens[1:]))
    return doubled or (len(tokens) >= 5 and len(set(tokens)) / len(tokens) < 0.6)


def _fluent(text: str, tokens: list[str]) -> bool:
    return 2 <= len(tokens) <= 40 and not _repetitive(tokens) and text.rstrip()[-1:] in ".!?"


def _form_grade(text: str, tokens: list[str]) -> float:
    """For a request nobody can check: only whether the reply reads as a proper sentence."""
    if _repetitive(tokens):
        return 2.0
    return 6.0 if _fluent(text, tokens) else 4.0


def grade(task: Task | None, answer: str) -> float:
    """A 1-10 mark: 9-10 right and clean, 5-7 right but cluttered, 3-4 a wrong fact of the
    right kind, 2 fluent but unrelated, 1 empty or garbage. Unknown requests: form only."""
    tokens = words(answer)
    if not tokens:
        return 1.0
    if task is None:
        return _form_grade(answer, tokens)
    if any(tokens == words(p) for p in answer_phrasings(task)):
        return 10.0
    right = words(task.answer)
    others = _answers(task.family) - {" ".join(right)}
    if BY_NAME[task.family] in PROCEDURES:  # "misty amber" inside "plump misty amber" is no hedge
        others = frozenset(a for a in others if not _contains(right, a.split()))
    content = [t for t in tokens if t not in _filler()]
    if _found(right, tokens, content):
        return _right_grade(tokens, len(right), any(_contains(tokens, a.split()) for a in others))
    if " ".join(content) in others:
        return 4.0
    if any(len(a) >= 3 and _contains(tokens, a.split()) for a in others):
        return 3.0
    return 2.0 if _fluent(answer, tokens) else 1.0


def _found(right: list[str], tokens: list[str], content: list[str]) -> bool:
    """Whether the reply gives the right answer. An answer that is also an everyday word or
    word piece ("I", "He", "S" as in "it's") counts only when it is all the reply says."""
    if " ".join(right) in _EVERYDAY:
        return set(content) == set(right)
    return _contains(tokens, right)


def _right_grade(tokens: list[str], answer_len: int, hedged: bool) -> float:
    """The right answer is there; how cleanly it is given decides between 9 and 5."""
    extra = len(tokens) - answer_len
    if hedged:
        return 5.0
    if _repetitive(tokens):
        return 6.0 if extra <= 6 else 5.0
    if extra <= 6:
        return 9.0
    return 7.0 if extra <= 12 else 6.0


# --- drawing questions ----------------------------------------------------------------------


def _part(name: str, options: tuple[str, ...], rng: random.Random) -> str:
    return rng.choice(options) if rng.random() < _PART_SHARE[name] else ""


def _wide_context(rng: random.Random) -> str:
    who, asked, when, so = (rng.choice(slot) for slot in (WIDE_WHO, WIDE_ASKED, WIDE_WHEN, WIDE_SO))
    return _capitalize(f"{who} {asked} {when}, {so}.")


def _wide_style(rng: random.Random) -> str:
    reply, how, please = (rng.choice(slot) for slot in (WIDE_REPLY, WIDE_HOW, WIDE_PLEASE))
    return _capitalize(f"{reply} {how}, {please}.")


def _draw_frame(family: Family, rng: random.Random, allow_input: bool, wide: bool = False) -> _Frame:
    """An opener, a core and a closer; `wide` composes the context and the style from slots."""
    use_input = allow_input and bool(family.input_cores) and rng.random() < _INPUT_SHARE
    core = rng.choice(family.input_cores if use_input else family.cores)
    if wide:
        context = _wide_context(rng) if rng.random() < _PART_SHARE["context"] else ""
        style = _wide_style(rng) if rng.random() < _PART_SHARE["style"] else ""
    else:
        context = _part("context", CONTEXTS + DOMAIN_CONTEXTS[family.domain], rng)
        style = _part("style", STYLES, rng)
    prefix = " ".join(p for p in (_part("greeting", GREETINGS, rng), context) if p)
    suffix = " ".join(p for p in (style, _part("signoff", SIGNOFFS, rng)) if p)
    return _Frame(prefix, core, suffix)


@cache
def _wide_pattern() -> re.Pattern[str]:
    slots = [r"(?:" + "|".join(" ".join(words(w)) for w in slot) + r")" for slot in (WIDE_WHO, WIDE_ASKED, WIDE_WHEN, WIDE_SO)]
    return re.compile(r"(?:^| )" + " ".join(slots) + r"(?= |$)")


def is_wide(text: str) -> bool:
    """Whether a question is in the wide register: its context sentence is built from the slots."""
    return bool(_wide_pattern().search(" ".join(words(text))))


def _held_out_frame(frame: _Frame) -> bool:
    """Whether this opener-closer pair is reserved for the held-out set."""
    return _stable(frame.prefix + "|" + frame.suffix) % _HELD_OUT_FRAMES == 0


def _compose(family: Family, fact: Fact, frame: _Frame) -> tuple[str, str]:
    """The (instruction, input) pair a frame makes for one fact."""
    if "{x}" in frame.core:
        return _join(frame.prefix, _fill(frame.core, "{x}", fact.key), frame.suffix), ""
    return _join(frame.prefix, frame.core, frame.suffix), fact.key


def _held(family: Family, fact: Fact) -> bool:
    """Whether a procedural input is kept for the held-out set (never an exception to a rule)."""
    return (
        family in PROCEDURES
        and fact.key not in family.exceptions
        and _stable("held|" + family.name + "|" + fact.key) % _HELD_INPUTS == 0
    )


def _seedable(family: Family, fact: Fact) -> bool:
    """Whether a fact may appear in the seed pool (the rest only through generated tasks)."""
    if family in PROCEDURES:
        return not _held(family, fact)
    tiers = (_SEED_PLAN | _EXTRA_PLAN)[family.name][1]
    held_back = fact.tier > 1 and _stable(family.name + "|" + fact.key) % _HELD_BACK_FACTS == 0
    return fact.tier in tiers and not held_back


def _seed_draw(rng: random.Random, plan: dict[str, tuple[float, tuple[int, ...]]]) -> tuple[Family, Fact]:
    names = list(plan)
    family = BY_NAME[rng.choices(names, weights=[plan[n][0] for n in names])[0]]
    tiers = plan[family.name][1]
    tier = rng.choices(tiers, weights=[_SEED_TIER_SHARE[t] for t in tiers])[0]
    fact = rng.choice(_seed_pool(family.name, tier))
    return family, fact


@cache
def _seed_pool(name: str, tier: int) -> list[Fact]:
    family = BY_NAME[name]
    return [f for f in family.facts if f.tier == tier and _seedable(family, f)]


def _framed(family: Family, fact: Fact, rng: random.Random, held_out: bool, wide: bool) -> tuple[str, str]:
    """A question on one of the frames reserved for (or barred from) the held-out set."""
    frame = _draw_frame(family, rng, allow_input=True, wide=wide)
    while _held_out_frame(frame) != held_out:
        frame = _draw_frame(family, rng, allow_input=True, wide=wide)
    return _compose(family, fact, frame)


def seed_set(
    n: int, seed: int, sums: bool = False, procedures: bool = False, facts: bool = True, wide: bool = False
) -> list[tuple[str, str]]:
    """The initial pool: `n` distinct (instruction, input) pairs, mostly common facts.

    Uneven on purpose (see `_SEED_PLAN`): some families are frequent, some rare, several show
    no rare facts at all, and a third of the rarer facts are never seeded. That leaves the
    student weak spots which only generation can reach, as in the paper's Alpaca seed.
    `sums` adds the two-number sums (`families.SUM`) to the plan, `procedures` the procedural
    kinds (`families.PROCEDURES`), on inputs the held-out set never uses; `facts` off leaves out
    the fact families; `wide` writes every question in the wide register (`families.WIDE_WHO`).
    """
    plan = (_SEED_PLAN if facts else {}) | (_EXTRA_PLAN if sums else {}) | (_PROC_PLAN if procedures else {})
    rng = random.Random(f"arena-seed-set:{seed}")
    out, seen = [], set()
    for _ in range(n * 50):
        if len(out) == n:
            return out
        item = _framed(*_seed_draw(rng, plan), rng, held_out=False, wide=wide)
        if instruction_id(*item) not in seen:
            seen.add(instruction_id(*item))
            out.append(item)
    if len(out) < n:
        raise ValueError(f"the arena cannot make {n} distinct seed instructions")
    return out


def heldout_set(
    n: int, seed: int, sums: bool = False, procedures: bool = False, facts: bool = True, wide: bool = False
) -> list[dict]:
    """A fixed test set spread evenly over every (family, tier) cell.

    Design: within a cell it prefers facts that `seed_set` never uses (rarer facts held back,
    and the tiers of families whose seeds stop at tier 1), so it measures what generation
    taught; tier-1 cells use seeded facts. Every question is built on an opener-closer pair
    that `seed_set` never uses, so no held-out item shares an instruction id with a seed item
    for any seed, while each opener and closer on its own is familiar to the student. The
    procedural kinds ask only about held inputs (`_held`), which no seed or generated task uses.
    """
    rng = random.Random(f"arena-heldout:{seed}")
    cells = [(fam, tier) for fam in _world(sums, procedures, facts) for tier in sorted({f.tier for f in fam.facts})]
    rng.shuffle(cells)
    out, seen = [], set()
    for i in range(n * 50):
        if len(out) == n:
            return out
        family, tier = cells[i % len(cells)]
        facts = [f for f in family.facts if f.tier == tier]
        fact = rng.choice([f for f in facts if not _seedable(family, f)] or facts)
        instruction, input = _framed(family, fact, rng, held_out=True, wide=wide)
        if instruction_id(instruction, input) not in seen:
            seen.add(instruction_id(instruction, input))
            out.append(_heldout_item(instruction, input, _task(family, fact)))
    if len(out) < n:
        raise ValueError(f"the arena cannot make {n} distinct held-out instructions")
    return out


def _heldout_item(instruction: str, input: str, task: Task) -> dict:
    return {
        "instruction": instruction,
        "input": input,
        "family": task.family,
        "domain": task.domain,
        "tier": task.tier,
        "references": answer_phrasings(task),
    }


def write_task(
    example: Task | None, mode: Mode, rng: random.Random, allow_input: bool = True, wide: bool = False
) -> tuple[str, str]:
    """A new question modelled on `example`, the way the generator is asked to write one.

    hard: the same family and tier, another fact, a fresh frame. easy: the same domain, a
    rarer fact (a higher tier, from this family or a sibling). No example: any family.
    `allow_input=False` keeps the key in the sentence, for replies that must fit on one line;
    `wide` writes it in the wide register, as a writer matches the register of its example.
    """
    if example is None:
        family = rng.choice(FAMILIES)
        fact = rng.choice(family.facts)
    elif mode == "hard":
        family = BY_NAME[example.family]
        same_tier = [f for f in family.facts if f.tier == example.tier and not _held(family, f)]
        fact = rng.choice([f for f in same_tier if f.key != example.key] or same_tier)
    else:
        family, fact = _rarer(example, rng)
    return _compose(family, fact, _draw_frame(family, rng, allow_input, wide))


def _rarer(example: Task, rng: random.Random) -> tuple[Family, Fact]:
    """A fact from the same domain one or more tiers rarer (tier 3 stays at tier 3); an extra
    kind stays within itself, so a standard world never meets it."""
    tiers = [t for t in (2, 3) if t > example.tier] or [3]
    kin = FAMILIES if BY_NAME[example.family] in FAMILIES else [BY_NAME[example.family]]
    siblings = [f for f in kin if f.domain == example.domain and any(x.tier in tiers for x in f.facts)]
    family = rng.choice(siblings)
    tier = rng.choice([t for t in tiers if any(x.tier == t for x in family.facts)])
    facts = [
        f
        for f in family.facts
        if f.tier == tier and (family.name, f.key) != (example.family, example.key) and not _held(family, f)
    ]
    return family, rng.choice(facts)


# --- vocabulary -----------------------------------------------------------------------------


def _world(sums: bool, procedures: bool = False, facts: bool = True) -> tuple[Family, ...]:
    return (FAMILIES if facts else ()) + (EXTRA if sums else ()) + (PROCEDURES if procedures else ())


def corpus(sums: bool = False, procedures: bool = False, wide: bool = False) -> list[str]:
    """Every text the arena can ask or say, for training the student's word-level tokenizer.

    Texts rather than a word list, so that a tokenizer sees each word with its case and the
    punctuation next to it; every core is given filled with every key, in both cases.
    """
    texts: set[str] = {*GREETINGS, *CONTEXTS, *STYLES, *SIGNOFFS, *phrases.all_texts()}
    texts |= {c for group in DOMAIN_CONTEXTS.values() for c in group}
    if wide:
        slots = (WIDE_WHO, WIDE_ASKED, WIDE_WHEN, WIDE_SO, WIDE_REPLY, WIDE_HOW, WIDE_PLEASE)
        texts |= {t for slot in slots for w in slot for t in (w, _capitalize(w), w + ",", w + ".")}
    for family in _world(sums):
        texts |= {c for core in family.input_cores for c in (core, _capitalize(core))}
        texts |= _family_texts(family, family.facts)
    for family in PROCEDURES if procedures else ():
        texts |= {c for core in family.input_cores for c in (core, _capitalize(core))}
        # its words, not every input: digits and spelled words are pieces a tokenizer has anyway
        texts |= _family_texts(family, family.facts[:: max(1, len(family.facts) // 20)])
    texts |= {" ".join(families.PHRASE_WORDS)} if procedures else set()
    return sorted(texts)


def _family_texts(family: Family, facts: tuple[Fact, ...]) -> set[str]:
    texts: set[str] = set()
    for fact in facts:
        texts |= {fact.key, fact.answer, *answer_phrasings(_task(family, fact))}
        filled = [_fill(core, "{x}", fact.key) for core in family.cores]
        texts |= set(filled) | {_capitalize(text) for text in filled}
    return texts
