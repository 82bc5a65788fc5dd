"""The arena's world: families, reading questions, grading, seed and held-out sets, new tasks."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from lion.arena import answer_phrasings, corpus, grade, heldout_set, parse, seed_set, write_task
from lion.arena.families import EXTRA, FAMILIES, SUM, Family
from lion.arena.world import Task, is_wide, words
from lion.core.records import instruction_id
from lion.data.similarity import NoveltyIndex

FRAMES = [
    ("", ""),
    ("Hello! Quick question for you:", "Answer in one word."),
    ("I'm revising for a quiz.", "Thanks!"),
    ("Out of pure curiosity,", ""),
]


def _task(family: Family, index: int = 0) -> Task:
    fact = family.facts[index]
    return Task(family.name, fact.key, fact.answer, fact.tier, family.domain)


def test_families_are_many_varied_and_well_formed():
    assert len(FAMILIES) >= 10
    assert len({f.domain for f in FAMILIES}) >= 4
    for family in FAMILIES:
        assert len(family.cores) >= 5, family.name
        assert all(core.count("{x}") == 1 for core in family.cores)
        assert all("{x}" not in core for core in family.input_cores)
        assert 2 <= len(family.answers) <= 3
        assert len(family.facts) >= 25, family.name
        assert {f.tier for f in family.facts} == {1, 2, 3}, family.name
        keys = [" ".join(words(f.key)) for f in family.facts]
        assert len(keys) == len(set(keys)), f"{family.name} repeats a key"


@pytest.mark.parametrize("family", FAMILIES + EXTRA, ids=lambda f: f.name)
def test_parse_reads_every_core_with_any_frame_case_and_punctuation(family: Family):
    for i, fact in enumerate(family.facts):
        core = family.cores[i % len(family.cores)]
        prefix, suffix = FRAMES[i % len(FRAMES)]
        question = " ".join(p for p in (prefix, core.replace("{x}", fact.key), suffix) if p)
        for variant in (question, question.upper(), question.replace("?", "").replace(".", " ")):
            task = parse(variant)
            assert task is not None, variant
            assert (task.family, task.key, task.answer, task.tier) == (
                family.name,
                fact.key,
                fact.answer,
                fact.tier,
            )
    for core in family.input_cores:
        fact = family.facts[-1]
        assert parse(f"Hey! {core} Thanks!", f" {fact.key.upper()} ") == _task(
            family, len(family.facts) - 1
        )


def test_parse_reads_a_an_in_both_forms():
    assert parse("What sound does an owl make?").answer == "hoot"
    assert parse("what sound does a owl make").answer == "hoot"


def test_parse_rejects_what_it_does_not_know():
    assert parse("Write a poem about the sea.") is None
    assert parse("What is the capital of Narnia?") is None
    assert parse("Give the capital city of the country below.", "") is None
    assert parse("Give the capital city of the country below.", "Atlantis") is None


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_teacher_phrasings_get_full_marks_and_mistakes_get_less(family: Family):
    task = _task(family, 2)
    wrong = next(f.answer for f in family.facts if words(f.answer) != words(task.answer))
    for phrasing in answer_phrasings(task):
        assert grade(task, phrasing) == 10
    right = grade(task, answer_phrasings(task)[1])
    cluttered = grade(task, f"{task.answer} {task.answer} is what I think it could be maybe")
    wrong_fact = grade(task, f"It is {wrong}.")
    unrelated = grade(task, "The weather is lovely today.")
    garbage = grade(task, "")
    assert right >= 9 > 7 >= cluttered >= 5 > 4 >= wrong_fact >= 3 > unrelated >= 2 > garbage == 1


def test_short_answers_that_are_everyday_words_count_only_alone():
    one = parse("Write 1 in roman numerals.")
    assert grade(one, "I.") == 10 and grade(one, "I I I") >= 5
    assert grade(one, "I don't know.") <= 2
    helium = parse("What is the chemical symbol for helium?")
    assert grade(helium, "He said it is gold.") < 5


def test_grade_of_unknown_requests_is_about_form():
    assert grade(None, "I'm not sure about that one, sorry.") >= 5
    assert grade(None, "no no no no no") <= 2
    assert grade(None, "   ") == 1


def test_seed_set_is_distinct_deterministic_and_uneven():
    seeds = seed_set(600, seed=3)
    assert seeds == seed_set(600, seed=3)
    assert seeds != seed_set(600, seed=4)
    assert len({instruction_id(*s) for s in seeds}) == 600
    tasks = [parse(*s) for s in seeds]
    assert all(tasks)
    tiers = Counter(t.tier for t in tasks)
    assert tiers[1] > 0.7 * len(tasks) and tiers[3] > 0
    shares = Counter(t.family for t in tasks)
    assert max(shares.values()) > 3 * min(shares.values())
    rare_families = {t.family for t in tasks if t.tier > 1}
    assert len(rare_families) < len(FAMILIES)


def test_heldout_covers_every_cell_and_never_shares_an_id_with_the_seeds():
    held = heldout_set(200, seed=0)
    assert held == heldout_set(200, seed=0)
    assert {(h["family"], h["tier"]) for h in held} == {
        (f.name, x.tier) for f in FAMILIES for x in f.facts
    }
    held_ids = {instruction_id(h["instruction"], h["input"]) for h in held}
    assert len(held_ids) == 200
    for seed in range(3):
        assert not held_ids & {instruction_id(*s) for s in seed_set(1500, seed)}
    seeded = {(t.family, t.key) for s in seed_set(1500, 0) for t in [parse(*s)]}
    unseen = [
        h for h in held if (h["family"], parse(h["instruction"], h["input"]).key) not in seeded
    ]
    assert len(unseen) > 0.4 * len(held)
    for h in held:
        task = parse(h["instruction"], h["input"])
        assert (task.family, task.domain, task.tier) == (h["family"], h["domain"], h["tier"])
        assert h["references"] == answer_phrasings(task)


def test_write_task_hard_keeps_family_and_tier_with_another_fact():
    rng = random.Random(0)
    for family in FAMILIES:
        for example in (_task(family, 0), _task(family, len(family.facts) - 1)):
            new = parse(*write_task(example, "hard", rng))
            assert (new.family, new.tier) == (example.family, example.tier)
            assert new.key != example.key


def test_write_task_easy_stays_in_domain_and_gets_rarer():
    rng = random.Random(1)
    families_seen = set()
    for family in FAMILIES:
        for _ in range(10):
            example = _task(family, 0)
            new = parse(*write_task(example, "easy", rng))
            assert new.domain == example.domain and new.tier > example.tier
            families_seen.add(new.family)
        top = _task(family, len(family.facts) - 1)
        assert parse(*write_task(top, "easy", rng)).tier == 3
    assert families_seen == {f.name for f in FAMILIES}


def test_write_task_without_example_and_inline_only():
    rng = random.Random(2)
    made = [write_task(None, "hard", rng, allow_input=False) for _ in range(200)]
    assert all(parse(*m) for m in made) and all(inp == "" for _, inp in made)
    assert len({parse(*m).family for m in made}) == len(FAMILIES)


@pytest.mark.parametrize("wide", [False, True])
def test_corpus_holds_every_word_the_arena_asks_or_says(wide: bool):
    def bare(word: str) -> str:
        return word.strip(".,:;!?\"'")

    vocabulary = {bare(w) for text in corpus(wide=wide) for w in text.split()}
    rng = random.Random(3)
    texts = [" ".join(s) for s in seed_set(300, 0, wide=wide)]
    texts += [" ".join(write_task(parse(*s), "easy", rng, wide=wide)) for s in seed_set(300, 1, wide=wide)]
    for h in heldout_set(200, 0, wide=wide):
        texts += [h["instruction"], h["input"], *h["references"]]
    missing = {bare(w) for text in texts for w in text.split()} - vocabulary
    assert not missing


@pytest.mark.parametrize("mode", ["hard", "easy"])
def test_generated_tasks_pass_the_novelty_filter_often_enough(mode: str, rouge_max):
    """Against a 1,500-question pool, at least 30% of new tasks must have ROUGE-L <= 0.7."""
    pool = [" ".join(s) for s in seed_set(1500, 0)]
    rng = random.Random(7)
    examples = [parse(*s) for s in seed_set(1500, 0)]
    new = [
        " ".join(write_task(rng.choice(examples), mode, rng, allow_input=False)) for _ in range(300)
    ]
    passed = sum(score <= 0.7 for score in rouge_max(new, pool)) / len(new)
    assert passed >= 0.3, f"{mode}: only {passed:.0%} pass"


def test_the_wide_register_is_read_like_the_standard_one_and_recognised():
    wide, standard = seed_set(400, 5, wide=True), seed_set(400, 5)
    assert all(parse(*s) for s in wide)
    assert not any(is_wide(i) for i, _ in standard)
    assert 0.75 < sum(is_wide(i) for i, _ in wide) / len(wide) < 0.95  # the context sentence is optional
    held = heldout_set(60, 0, wide=True)
    assert all(parse(h["instruction"], h["input"]) for h in held) and sum(is_wide(h["instruction"]) for h in held) > 40


def test_the_wide_register_leaves_room_for_new_tasks_in_a_large_pool():
    """At 13,000 seeds the standard frames are nearly used up; the wide register is what lets a
    paper-sized pool (benchmarks/scale.py) still grow by generation."""
    def kept(wide: bool) -> float:
        seeds = seed_set(13_000, 0, wide=wide)
        index = NoveltyIndex()
        index.add_many([(str(i), " ".join(s)) for i, s in enumerate(seeds)])
        rng = random.Random(4)
        parents = [seeds[rng.randrange(len(seeds))] for _ in range(200)]
        new = [write_task(parse(*p), "hard", rng, allow_input=False, wide=wide and is_wide(p[0]))[0] for p in parents]
        return sum(not index.any_above(t, 0.7) for t in new) / len(new)

    assert kept(wide=False) < 0.2 and kept(wide=True) > 0.5


def test_sums_join_only_a_world_that_asks_for_them():
    def families(items):
        return Counter(parse(i, x).family for i, x in items)

    assert "sum" not in families(seed_set(300, 0)) and "sum" not in {h["family"] for h in heldout_set(200, 0)}
    assert not any("plus" in text.split() for text in corpus())
    seeded = [parse(i, x) for i, x in seed_set(300, 0, sums=True)]
    sums = [t for t in seeded if t.family == "sum"]
    assert 10 <= len(sums) <= 40 and {t.tier for t in sums} <= {1, 2, 3}
    held = [h for h in heldout_set(200, 0, sums=True) if h["family"] == "sum"]
    assert {h["tier"] for h in held} == {1, 2, 3}
    # held-out sums are mostly ones no seed set shows: only generation (or addition) reaches them
    seeded_keys = {t.key for seed in range(5) for t in (parse(i, x) for i, x in seed_set(300, seed, sums=True))}
    assert sum(parse(h["instruction"], h["input"]).key in seeded_keys for h in held) <= len(held) // 3
    vocabulary = {w.strip(".,:;!?\"'") for text in corpus(sums=True) for w in text.split()}
    for h in held:
        assert {w.strip(".,:;!?\"'") for text in (h["instruction"], h["input"], *h["references"]) for w in text.split()} <= vocabulary


def test_sums_are_read_graded_and_grown_within_their_kind():
    task = parse("Hi! What is 23 plus 45? Keep it short.")
    assert (task.family, task.answer, task.tier) == ("sum", "68", 3)
    assert grade(task, "It is 68.") == 10 and grade(task, "It is 67.") == 4
    assert parse("What is 99 plus 99?") is None  # no such fact: the arena does not know it
    rng = random.Random(0)
    for _ in range(30):
        easy = parse(*write_task(_task(SUM, 0), "easy", rng))
        hard = parse(*write_task(_task(SUM, 0), "hard", rng))
        assert easy.family == hard.family == "sum" and easy.tier > 1 and hard.tier == 1
