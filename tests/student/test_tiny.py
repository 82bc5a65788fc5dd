import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from lion.core.config import TinyStudentConfig
from lion.core.errors import LionError
from lion.student.format import alpaca_prompt
from lion.student.tiny import build_tiny_student

TEXTS = [
    "Quick geography question: what is the capital of Peru? Keep it short.",
    "It is Lima.",
    "What is the chemical symbol of iron? It is Fe.",
    "Count to 12, then stop.",
]
TINY = TinyStudentConfig(hidden_size=32, layers=2, heads=2, max_positions=64)


def build(tmp_path, name="student", seed=0, texts=TEXTS):
    out = tmp_path / name
    build_tiny_student(texts, out, TINY, seed)
    return out


def weights(folder):
    return AutoModelForCausalLM.from_pretrained(folder).state_dict()


def test_loads_back_through_the_auto_classes(tmp_path):
    out = build(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert isinstance(model, LlamaForCausalLM)
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 2
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.tie_word_embeddings
    assert tokenizer.chat_template is None
    assert [tokenizer.pad_token, tokenizer.unk_token, tokenizer.bos_token, tokenizer.eos_token] == [
        "<pad>",
        "<unk>",
        "<s>",
        "</s>",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["student"]  # no staging folder left over


def test_tokenizer_gives_back_the_exact_text(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(build(tmp_path))
    for text in TEXTS + [alpaca_prompt("What is the capital of Peru?", "")]:
        ids = tokenizer(text).input_ids
        assert ids[0] == tokenizer.bos_token_id
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_words_digits_and_punctuation_are_separate_tokens(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(build(tmp_path))
    tokens = tokenizer.tokenize("Count to 12, then stop.")
    assert tokens == ["Count", "▁to", "▁", "1", "2", ",", "▁then", "▁stop", "."]


def test_prompt_headers_are_in_the_vocabulary_even_without_them_in_texts(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(build(tmp_path, texts=["It is Lima."]))
    prompt = alpaca_prompt("It is", "It is")
    assert tokenizer.unk_token_id not in tokenizer(prompt).input_ids


def test_a_word_that_opens_a_text_is_known_mid_sentence(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(
        build(tmp_path, texts=["Hello!", "Give the capital."])
    )
    assert tokenizer.unk_token_id not in tokenizer("Hello! Give the capital.").input_ids


def test_same_texts_and_seed_give_identical_weights(tmp_path):
    a, b, c = (
        weights(build(tmp_path, "a")),
        weights(build(tmp_path, "b")),
        weights(build(tmp_path, "c", seed=1)),
    )
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_rebuilding_replaces_the_folder(tmp_path):
    out = build(tmp_path)
    build(tmp_path, texts=["Something else entirely."])
    assert "Peru" not in (out / "tokenizer.json").read_text(encoding="utf-8")


def test_heads_that_do_not_divide_the_hidden_size_are_refused(tmp_path):
    with pytest.raises(LionError, match="heads"):
        build_tiny_student(TEXTS, tmp_path / "s", TinyStudentConfig(hidden_size=30, heads=4), 0)


def test_nothing_spelled_keeps_the_standard_tokenizer_byte_for_byte():
    from lion.arena import corpus, seed_set
    from lion.student.tiny import train_tokenizer

    texts = corpus() + [i + " " + x for i, x in seed_set(300, 0)]
    plain = train_tokenizer(texts, 256).backend_tokenizer.to_str()
    assert train_tokenizer(texts, 256, ()).backend_tokenizer.to_str() == plain
    assert train_tokenizer(corpus(procedures=False) + texts[len(corpus()):], 256).backend_tokenizer.to_str() == plain


def test_spelled_words_become_letter_pieces_and_decode_exactly(tmp_path):
    from lion.arena import corpus, seed_set, spelled_words

    texts = corpus(procedures=True) + [i + " " + x for i, x in seed_set(300, 0, procedures=True)]
    out = tmp_path / "spelled"
    build_tiny_student(texts, out, TINY, 0, spelled_words())
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.tokenize("Spell the plural of tulip. It is tulips.") == [
        "Spell", "▁the", "▁plural", "▁of", "▁t", "##u", "##l", "##i", "##p", ".",
        "▁It", "▁is", "▁t", "##u", "##l", "##i", "##p", "##s", ".",
    ]  # fmt: skip
    assert tokenizer.tokenize("zeppelin")[0] == "z"  # a word never seen is spelled, not unknown
    for text in ["What is the last letter of the word mango? The answer is o.", "Work out 57 minus 12.", *texts[:200]]:
        ids = tokenizer(text).input_ids
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert tokenizer.tokenize("Reverse the order of these words: amber misty.")[-3:] == ["▁amber", "▁misty", "."]


def _kind_examples(name: str, rng, n: int) -> tuple[list, list]:
    """`n` taught questions of one procedural kind, and its held-out inputs, asked the same way."""
    from lion.arena import answer_phrasings, heldout_set, parse
    from lion.arena.families import BY_NAME

    family = BY_NAME[name]
    held = {parse(h["instruction"], h["input"]).key for h in heldout_set(600, 0, procedures=True) if h["family"] == name}
    taught = [f for f in family.facts if f.key not in held]

    def example(key):
        task = parse(family.cores[0].replace("{x}", key))
        return (family.cores[0].replace("{x}", key).capitalize(), "", answer_phrasings(task)[0])

    return [example(rng.choice(taught).key) for _ in range(n)], [example(k) for k in sorted(held)]


@pytest.mark.parametrize(("name", "epochs", "bar"), [("count_words", 15, 0.6), ("product", 10, None)])
def test_a_procedure_is_learned_from_examples_and_a_product_is_not(tmp_path, name, epochs, bar):
    """A few hundred examples teach counting the words of phrases never seen (chance: about 1 in
    6); as many 2-digit products leave new products all but unsolved. (The last letter, with
    some fifty words to learn from, is sometimes learned and sometimes only memorised.)"""
    import random

    from tiny_world import student_config

    from lion.arena import spelled_words
    from lion.core.config import GenerateConfig
    from lion.student.generate import StudentGenerator
    from lion.student.train import train_student

    taught, held = _kind_examples(name, random.Random(0), 400)
    assert len(held) >= 10
    texts = [t for i, _, a in taught + held for t in (i, a)]
    build_tiny_student(texts, tmp_path / "base", TinyStudentConfig(hidden_size=64, layers=2, heads=4, max_positions=64), 0, spelled_words())
    cfg = student_config(epochs=epochs, learning_rate=3e-3, batch_size=16)
    train_student(tmp_path / "base", taught, tmp_path / "student", tmp_path / "work", cfg, threads=2)
    gen = StudentGenerator(tmp_path / "student", GenerateConfig(max_new_tokens=8, batch_size=64), "auto", threads=2)
    answers = gen.run_batch([gen.prompt(i, x) for i, x, _ in held])
    right = sum(got == want for got, (_, _, want) in zip(answers, held)) / len(held)
    assert right >= bar if bar is not None else right <= 0.2, (right, answers)
