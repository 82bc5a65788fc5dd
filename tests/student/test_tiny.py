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
