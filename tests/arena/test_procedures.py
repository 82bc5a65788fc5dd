"""The procedural kinds (`data.arena_procedures`): answers worked out from the question itself."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter

import pytest

from lion.arena import ArenaChatModel, answer_phrasings, corpus, grade, heldout_set, parse, seed_set
from lion.arena.families import BY_NAME, PROCEDURES, Family, spelled_words
from lion.arena.world import Task, words
from lion.core.chat import Decoding, Message
from lion.core.config import ArenaOptions, DataConfig, load_config
from lion.core.errors import LionError
from lion.core.prompts import render
from lion.llm.judging import PairItem, comparison_messages

CLEAN = ArenaOptions(position_bias=0.0, noise=0.0, malformed_rate=0.0)
SCORES = re.compile(r"Assistant 1 score: (\d+)\nAssistant 2 score: (\d+)\s*$")


def ask(model: ArenaChatModel, prompt: str, sample: int = 0) -> str:
    messages: list[Message] = [{"role": "user", "content": prompt}]
    return asyncio.run(model.complete(messages, Decoding(1.0), sample)).text


def test_the_flag_is_off_by_default_and_off_means_the_standard_world_byte_for_byte():
    assert DataConfig().arena_procedures is False
    for sums in (False, True):
        assert json.dumps(seed_set(300, 4, sums, False)) == json.dumps(seed_set(300, 4, sums))
        assert json.dumps(heldout_set(200, 4, sums, False)) == json.dumps(heldout_set(200, 4, sums))
        assert corpus(sums, False) == corpus(sums)
    assert not {parse(*q).family for q in seed_set(300, 4)} & {f.name for f in PROCEDURES}


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Work out 52 minus 17.", "35"),
        ("Which is larger, 43 or 47?", "47"),
        ("Reverse the order of these words: amber misty plump.", "plump misty amber"),
        ("Sort these words alphabetically: zesty calm brisk.", "brisk calm zesty"),
        ("How many words are in this phrase: rosy tiny wavy windy?", "4"),
        ("Spell the plural of fox.", "foxes"),
        ("Spell the plural of daisy.", "daisies"),
        ("Spell the plural of cactus.", "cacti"),
        ("Spell the past tense of bake.", "baked"),
        ("Spell the past tense of carry.", "carried"),
        ("Spell the past tense of dig.", "dug"),
        ("What is the last letter of the word mango?", "o"),
        ("Multiply to find 37 times 24.", "888"),
        # inputs no table lists are worked out all the same
        ("Work out 123 minus 23.", "100"),
        ("Spell the plural of zeppelin.", "zeppelins"),
    ],
)
def test_answers_are_worked_out_from_the_question(question: str, answer: str):
    task = parse(question)
    assert task is not None and task.answer == answer
    assert grade(task, answer_phrasings(task)[0]) == 10


@pytest.mark.parametrize("family", PROCEDURES, ids=lambda f: f.name)
def test_every_fact_parses_back_through_every_core(family: Family):
    for i, fact in enumerate(family.facts[:: max(1, len(family.facts) // 60)]):
        core = family.cores[i % len(family.cores)]
        task = parse(f"Hmm. Quick question for you: {core.replace('{x}', fact.key)} Keep it short.")
        assert task is not None and (task.family, task.answer) == (family.name, fact.answer)
        assert parse(f"{family.input_cores[0]} Thanks!", fact.key).answer == fact.answer
    assert {f.tier for f in family.facts} == {1, 2, 3}


def test_seeds_and_heldout_cover_every_kind_and_held_inputs_are_never_seeded():
    seeds = seed_set(900, 0, procedures=True)
    held = heldout_set(300, 0, procedures=True)
    seeded = Counter(parse(*s).family for s in seeds)
    assert all(seeded[f.name] >= 10 for f in PROCEDURES)
    held_kinds = [h for h in held if BY_NAME[h["family"]] in PROCEDURES]
    assert {h["family"] for h in held_kinds} == {f.name for f in PROCEDURES}
    seen_keys = {(t.family, t.key) for t in (parse(*s) for s in seeds)}
    seen_words = {w for s in seeds for w in words(" ".join(s))}
    for item in held_kinds:
        task = parse(item["instruction"], item["input"])
        assert (task.family, task.key) not in seen_keys
        if task.family in ("plural_rule", "past_rule", "last_letter"):
            assert task.key not in seen_words  # a word no seed shows at all
        assert grade(task, item["references"][0]) == 10
        assert task.answer in item["references"][0]


def test_without_the_fact_kinds_the_world_holds_only_what_the_flags_add(tmp_path):
    names = {f.name for f in PROCEDURES}
    assert {parse(*s).family for s in seed_set(300, 0, procedures=True, facts=False)} == names
    assert {h["family"] for h in heldout_set(100, 0, procedures=True, facts=False)} == names
    assert {parse(*s).family for s in seed_set(60, 0, sums=True, facts=False)} == {"sum"}
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  arena_facts: false\n")
    with pytest.raises(LionError, match=r"run.yaml, line 1, field 'data.arena_procedures': with arena_facts off, the "
                                        r"arena needs arena_sums or arena_procedures on"):
        load_config(path)


def test_wrong_answers_grade_below_right_ones():
    task = parse("Reverse the order of these words: amber misty plump.")
    assert grade(task, "It is plump misty amber.") == 10
    assert grade(task, "plump misty amber, I think.") >= 9  # "misty amber" is part of it, no hedge
    assert grade(task, "It is amber misty plump.") < 5
    letter = parse("What is the last letter of the word pretzel?")
    assert grade(letter, "It is l.") == 10 and grade(letter, "It is p.") <= 4


EXAMPLES = ["Spell the plural of lantern.", "Work out 52 minus 17.", "Count the words of this phrase: amber misty."]


@pytest.mark.parametrize("mode", ["generator_hard", "generator_easy"])
@pytest.mark.parametrize("example", EXAMPLES)
def test_generator_writes_new_inputs_of_the_same_kind(mode: str, example: str):
    generator = ArenaChatModel("arena-generator", CLEAN)
    old = parse(example)
    held = {(h["family"], parse(h["instruction"], h["input"]).key) for h in heldout_set(300, 0, procedures=True)}
    keys = set()
    for s in range(15):
        new = parse(ask(generator, render(mode, instruction=example, input=""), s))
        assert new is not None and new.family == old.family and new.key != old.key
        assert new.tier == old.tier if mode == "generator_hard" else new.tier > old.tier or old.tier == 3
        assert (new.family, new.key) not in held
        keys.add(new.key)
    assert len(keys) >= 8


@pytest.mark.parametrize("family", PROCEDURES, ids=lambda f: f.name)
def test_referee_prefers_the_correct_answer(family: Family):
    referee = ArenaChatModel("arena-referee", CLEAN)
    fact = family.facts[len(family.facts) // 2]
    question = family.cores[0].replace("{x}", fact.key)
    right = answer_phrasings(Task(family.name, fact.key, fact.answer, fact.tier, family.domain))[0]
    wrong_fact = next(f for f in family.facts if f.answer != fact.answer)
    wrong = right.replace(fact.answer, wrong_fact.answer)
    for a1, a2, better in ((right, wrong, 0), (wrong, right, 1)):
        item = PairItem("", question, "", a1, a2)
        prompt = comparison_messages("referee", "text", item, a1, a2)[-1]["content"]
        scores = [int(s) for s in SCORES.search(ask(referee, prompt)).groups()]
        assert scores[better] > scores[1 - better]


def test_spelled_words_cover_the_letter_kinds_and_nothing_else():
    spelled = spelled_words()
    assert {"tulip", "tulips", "carried", "mango", "cacti"} <= spelled
    assert not spelled & {w for f in BY_NAME.values() if f not in PROCEDURES for x in f.facts for w in words(x.key)}


def test_teacher_answers_every_procedural_seed_in_a_known_phrasing():
    teacher = ArenaChatModel("arena-teacher", CLEAN)
    for instruction, input in seed_set(200, 3, procedures=True):
        task = parse(instruction, input)
        reply = ask(teacher, render("teacher", instruction=instruction, input=input))
        assert reply in answer_phrasings(task) and grade(task, reply) == 10
