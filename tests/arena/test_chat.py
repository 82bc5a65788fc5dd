"""The arena's chat roles, driven only through our prompt templates, as the loop drives them."""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics

import pytest

from lion.arena import ArenaChatModel, answer_phrasings, grade, parse, phrases, seed_set
from lion.arena.world import is_wide
from lion.core.chat import Completion, Decoding, Message, Usage
from lion.core.config import ArenaOptions
from lion.core.prompts import render, template
from lion.llm.judging import PairItem, comparison_messages
from lion.llm.verdicts import VERDICT_SCHEMA
from lion.loop.stages.generation import output_problem

SCORES = re.compile(r"Assistant 1 score: (\d+)\nAssistant 2 score: (\d+)\s*$")
CLEAN = ArenaOptions(position_bias=0.0, noise=0.0, malformed_rate=0.0)
# the verdict schema the judging code sends for structured output, serialized as it serializes it
SCHEMA = json.dumps(VERDICT_SCHEMA, sort_keys=True)


def ask(
    model: ArenaChatModel,
    prompt: str,
    decoding: Decoding | None = None,
    sample: int = 0,
    system: str = "",
) -> Completion:
    messages: list[Message] = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return asyncio.run(model.complete(messages, decoding or Decoding(), sample))


def review_prompt(
    instruction: str, answer_1: str, answer_2: str, input: str = "", name: str = "referee"
) -> str:
    item = PairItem("", instruction, input, answer_1, answer_2)
    return comparison_messages(name, "text", item, answer_1, answer_2)[-1]["content"]


def test_unknown_model_names_are_refused_by_name():
    with pytest.raises(ValueError, match="arena-oracle"):
        ArenaChatModel("arena-oracle", CLEAN)
    assert ArenaChatModel("arena-judge", CLEAN).name == "arena-judge"


def test_teacher_answers_every_seed_correctly_in_a_known_phrasing():
    teacher = ArenaChatModel("arena-teacher", CLEAN)
    for instruction, input in seed_set(150, seed=5):
        reply = ask(teacher, render("teacher", instruction=instruction, input=input), Decoding(0.7))
        task = parse(instruction, input)
        assert reply.text in answer_phrasings(task)
        assert grade(task, reply.text) >= 9
        assert reply.finish_reason == "stop"
        assert reply.usage.completion_tokens == len(reply.text.split())


def test_teacher_is_polite_about_requests_it_does_not_know():
    reply = ask(ArenaChatModel("arena-teacher", CLEAN), "Write a sonnet about autumn.")
    assert reply.text.endswith(".") and len(reply.text.split()) >= 4


def test_replies_are_deterministic_per_request_and_vary_with_sample():
    teacher = ArenaChatModel("arena-teacher", CLEAN)
    prompt = render("teacher", instruction="What is the capital of Peru?", input="")
    replies = {ask(teacher, prompt, Decoding(1.0), sample=s).text for s in range(12)}
    assert len(replies) > 1
    assert ask(teacher, prompt, Decoding(1.0), sample=3) == ask(
        teacher, prompt, Decoding(1.0), sample=3
    )
    greedy = {ask(teacher, prompt, Decoding(0.0), sample=s).text for s in range(5)}
    assert greedy == {answer_phrasings(parse("What is the capital of Peru?"))[0]}


def test_referee_scores_parse_and_favour_the_right_answer():
    referee = ArenaChatModel("arena-referee", CLEAN)
    reply = ask(
        referee, review_prompt("What is the capital of Peru?", "It is Lima.", "It is Quito.")
    )
    s1, s2 = map(int, SCORES.search(reply.text).groups())
    assert s1 >= 9 and s2 <= 4
    explanation = reply.text[: SCORES.search(reply.text).start()].strip()
    assert 2 <= explanation.count(".") <= 3
    swapped = ask(
        referee, review_prompt("What is the capital of Peru?", "It is Quito.", "It is Lima.")
    )
    assert tuple(map(int, SCORES.search(swapped.text).groups())) == (s2, s1)


def test_reviewers_read_answers_that_contain_brackets_and_markers():
    judge = ArenaChatModel("arena-judge", CLEAN)
    answer_2 = "[Assistant 2]\n[End of Assistant 1]\nLima [1]"
    reply = ask(
        judge,
        review_prompt(
            "Give the capital city of the country below.", "Lima.", answer_2, "Peru", "judge"
        ),
    )
    s1, s2 = map(int, SCORES.search(reply.text).groups())
    assert s1 == 10 and 5 <= s2 <= 9


def test_position_bias_raises_the_first_answer_on_average():
    referee = ArenaChatModel(
        "arena-referee", ArenaOptions(position_bias=1.5, noise=1.0, malformed_rate=0.0)
    )
    same = "Paris Paris Paris, I think."
    firsts, seconds = [], []
    for s in range(40):
        reply = ask(
            referee, review_prompt("Name the capital city of France.", same, same), Decoding(0.2), s
        )
        s1, s2 = map(int, SCORES.search(reply.text).groups())
        firsts.append(s1)
        seconds.append(s2)
    assert statistics.mean(firsts) > statistics.mean(seconds) + 0.8
    assert len(set(seconds)) > 1


def test_reviewer_malformed_replies_come_at_about_the_configured_rate():
    referee = ArenaChatModel("arena-referee", ArenaOptions(malformed_rate=0.3))
    prompt = review_prompt("What is the past tense of go?", "Went.", "Goed.")
    replies = [ask(referee, prompt, Decoding(0.2), s).text for s in range(300)]
    malformed = [r for r in replies if not SCORES.search(r)]
    assert 0.2 < len(malformed) / len(replies) < 0.4
    shapes = {
        "slash": r"Assistant 1: \d+/10",
        "pair": r"\n\d+ \d+$",
        "bold": r"\*\*Assistant 1 score:\*\*",
        "decimal": r"score: \d+\.\d",
    }
    for shape, pattern in shapes.items():
        assert any(re.search(pattern, r) for r in malformed), shape


def test_generator_reads_the_hard_prompt_and_keeps_family_and_tier():
    generator = ArenaChatModel("arena-generator", CLEAN)
    example = ("Which continent is the following country in?", "Bhutan")
    for s in range(20):
        reply = ask(
            generator,
            render("generator_hard", instruction=example[0], input=example[1]),
            Decoding(1.0),
            s,
        )
        new, old = parse(reply.text), parse(*example)
        assert "\n" not in reply.text
        assert (new.family, new.tier) == (old.family, old.tier) and new.key != old.key


def test_generator_reads_the_easy_prompt_and_goes_rarer_in_the_domain():
    generator = ArenaChatModel("arena-generator", CLEAN)
    for s in range(20):
        reply = ask(
            generator,
            render("generator_easy", instruction="What sound does a dog make?", input=""),
            Decoding(1.0),
            s,
        )
        new = parse(reply.text)
        assert new.domain == "nature" and new.tier > 1


def test_generator_writes_in_the_register_of_its_example():
    generator = ArenaChatModel("arena-generator", CLEAN)
    for example in ("My cousin texted me at lunch, and I froze. What is the plural of mouse?", "What is the plural of mouse?"):
        replies = [ask(generator, render("generator_hard", instruction=example, input=""), Decoding(1.0), s).text
                   for s in range(20)]
        assert all(parse(r) for r in replies)
        assert any(is_wide(r) for r in replies) == is_wide(example)


def _slip(reply: Completion) -> str | None:
    """Which of the generation stage's output filters drops this generator reply, if any."""
    return output_problem(reply.text, reply.finish_reason)


def test_generator_slips_come_at_about_the_configured_rate_and_of_every_kind(rouge_max):
    generator = ArenaChatModel("arena-generator", ArenaOptions(malformed_rate=0.4))
    example = "Hello! What is the plural of mouse? Keep it short."
    prompt = render("generator_hard", instruction=example, input="")
    replies = [ask(generator, prompt, Decoding(1.0, max_tokens=60), s) for s in range(300)]
    kinds = [_slip(r) for r in replies]
    near_copies = [
        r for r, k in zip(replies, kinds) if k is None and rouge_max([r.text], [example])[0] > 0.7
    ]
    assert {k for k in kinds if k} == {
        "cut off by the length limit",
        "mentions 'instruction'",
        "3 words or fewer",
        "starts with a non-ASCII character",
        "starts with punctuation",
    }
    assert near_copies
    rate = (sum(k is not None for k in kinds) + len(near_copies)) / len(replies)
    assert 0.3 < rate < 0.5
    assert all(r.usage.completion_tokens <= 60 for r in replies)


ROLE_PROMPTS = {
    "arena-teacher": "Write a sonnet about autumn.",
    "arena-referee": review_prompt("What is 7 in roman numerals?", "VII.", "IIIIIII."),
    "arena-judge": review_prompt("What is 7 in roman numerals?", "VII.", "IIIIIII.", name="judge"),
    "arena-generator": render("generator_easy", instruction="Write 7 in words.", input=""),
}


@pytest.mark.parametrize("model", list(ROLE_PROMPTS))
def test_every_role_respects_max_tokens(model: str):
    prompt = ROLE_PROMPTS[model]
    reply = ask(ArenaChatModel(model, CLEAN), prompt, Decoding(0.0, max_tokens=3))
    assert reply.finish_reason == "length" and len(reply.text.split()) == 3
    assert reply.usage == Usage(len(prompt.split()), 3)


@pytest.mark.parametrize("name", ["generator_hard", "generator_easy"])
def test_generator_output_passes_the_novelty_filter_often_enough(name: str, rouge_max):
    """The measurement behind the family frames: at least 30% of generated tasks are novel."""
    pool = seed_set(1500, seed=0)
    generator = ArenaChatModel("arena-generator", CLEAN)
    rng = random.Random(11)
    new = []
    for s in range(300):
        instruction, input = rng.choice(pool)
        new.append(
            ask(
                generator, render(name, instruction=instruction, input=input), Decoding(1.0), s
            ).text
        )
    passed = sum(score <= 0.7 for score in rouge_max(new, [" ".join(p) for p in pool])) / len(new)
    assert passed >= 0.3, f"{name}: only {passed:.0%} pass"


def test_reviewers_work_under_our_system_prompt():
    referee = ArenaChatModel("arena-referee", CLEAN)
    prompt = review_prompt("What is the opposite of hot?", "Cold.", "Warm.")
    reply = ask(referee, prompt, system=template("referee_system"))
    assert SCORES.search(reply.text)


# --- structured output ----------------------------------------------------------------------


def _varied_reviews(count: int) -> list[tuple[str, str]]:
    """(model, prompt) pairs over seed tasks, with right, wrong and equal answers in both orders."""
    rng = random.Random(3)
    reviews = []
    for n, (instruction, input) in enumerate(seed_set(count, seed=9)):
        task = parse(instruction, input)
        right = rng.choice(answer_phrasings(task)) if task else "Sure, here it is."
        other = rng.choice(["I do not know.", "It is Quito.", right, right + " " + right])
        pair = (right, other) if n % 2 else (other, right)
        name = ("referee", "judge")[n % 2]
        reviews.append((f"arena-{name}", review_prompt(instruction, *pair, input=input, name=name)))
    return reviews


def test_json_verdicts_follow_the_schema_and_score_as_the_text_verdicts_do():
    options = ArenaOptions(position_bias=1.0, noise=1.0, malformed_rate=0.0)
    models = {m: ArenaChatModel(m, options) for m in ("arena-referee", "arena-judge")}
    pairs = []
    for n, (model, prompt) in enumerate(_varied_reviews(50)):
        text = ask(models[model], prompt, Decoding(0.7), sample=n % 3).text
        reply = ask(models[model], prompt, Decoding(0.7, json_schema=SCHEMA), sample=n % 3)
        verdict = json.loads(reply.text)
        assert list(verdict) == sorted(VERDICT_SCHEMA["properties"])  # the order the schema shows
        scores = (verdict["assistant_1_score"], verdict["assistant_2_score"])
        assert all(type(s) is int and 1 <= s <= 10 for s in scores)
        closing = SCORES.search(text)
        assert scores == tuple(map(int, closing.groups()))
        assert verdict["explanation"] == text[: closing.start()].strip()
        assert reply.finish_reason == "stop"
        pairs.append(scores)
    assert len({s for pair in pairs for s in pair}) >= 5  # the noise was drawn, and drawn alike


def test_json_verdicts_are_read_from_any_schema_in_its_order():
    judge = ArenaChatModel("arena-judge", CLEAN)
    prompt = review_prompt("What is the capital of Peru?", "It is Quito.", "It is Lima.", name="judge")
    schema = {
        "type": "object",
        "properties": {
            "second_place": {"type": ["integer", "null"]},
            "reasoning": {"type": "string"},
            "first_place": {"type": "integer"},
        },
    }
    verdict = json.loads(ask(judge, prompt, Decoding(0.0, json_schema=json.dumps(schema))).text)
    assert list(verdict) == ["second_place", "reasoning", "first_place"]
    assert verdict["second_place"] <= 4 and verdict["first_place"] >= 9  # Assistant 1's comes first
    assert verdict["reasoning"].startswith("Assistant 1")


def test_unusable_schemas_get_an_object_with_what_can_be_filled():
    referee = ArenaChatModel("arena-referee", CLEAN)
    prompt = review_prompt("What is the capital of Peru?", "It is Lima.", "It is Quito.")
    one_score = {"properties": {"why": {"type": "string"}, "score": {"type": "number"}}}
    for schema, keys in [({"type": "object"}, []), (one_score, ["why", "score"]), ("[1]", []), ("{", [])]:
        text = schema if isinstance(schema, str) else json.dumps(schema)
        assert list(json.loads(ask(referee, prompt, Decoding(0.0, json_schema=text)).text)) == keys
    lost = json.loads(ask(referee, "Rate this.", Decoding(0.0, json_schema=SCHEMA)).text)
    assert lost == {"explanation": phrases.NO_COMPARISON[0]}


def _json_shape(reply: str) -> str:
    """Which malformed JSON shape (see lion.arena.chat) a reviewer reply has, or "valid"."""
    if reply in phrases.REFUSALS:
        return "refusal"
    fenced = re.fullmatch(r"```json\n(\{.*\})\n```", reply, re.DOTALL)
    try:
        verdict = json.loads(fenced[1] if fenced else reply)
    except json.JSONDecodeError:
        assert reply.startswith("{") and not reply.endswith("}")
        return "cut"
    scores = [verdict["assistant_1_score"], verdict["assistant_2_score"]]
    if fenced:
        return "fence"
    if all(isinstance(s, str) and s.isdigit() for s in scores):
        return "string_scores"
    if sorted(s for s in scores if not 1 <= s <= 10) in ([0], [11]):
        return "out_of_range"
    return "valid"


def test_malformed_json_verdicts_come_on_the_text_draw_and_in_every_shape():
    options = ArenaOptions(position_bias=0.5, noise=0.5, malformed_rate=0.3)
    shapes = []
    for n, (model, prompt) in enumerate(_varied_reviews(120)):
        arena = ArenaChatModel(model, options)
        text = ask(arena, prompt, Decoding(0.2), sample=n % 2).text
        shape = _json_shape(ask(arena, prompt, Decoding(0.2, json_schema=SCHEMA), sample=n % 2).text)
        assert (shape != "valid") == (SCORES.search(text) is None)
        shapes.append(shape)
    assert 0.15 < sum(s != "valid" for s in shapes) / len(shapes) < 0.45
    always = ArenaChatModel("arena-referee", ArenaOptions(malformed_rate=1.0))
    prompt = review_prompt("What is the past tense of go?", "Went.", "Goed.")
    replies = [ask(always, prompt, Decoding(0.7, json_schema=SCHEMA), s).text for s in range(150)]
    assert {_json_shape(r) for r in replies} == {
        "fence", "cut", "refusal", "out_of_range", "string_scores"
    }
