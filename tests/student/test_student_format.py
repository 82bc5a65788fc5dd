import pytest
from transformers import AutoTokenizer

from lion.core.errors import LionError
from lion.student.format import build_prompt, resolve_format


@pytest.fixture(scope="module")
def plain(base_student):
    return AutoTokenizer.from_pretrained(base_student)


@pytest.fixture(scope="module")
def chat(chat_base):
    return AutoTokenizer.from_pretrained(chat_base)


def test_alpaca_prompt_without_input(plain):
    prompt = build_prompt(plain, "alpaca", "What is the capital of Peru?", "")
    assert prompt == "### Instruction:\nWhat is the capital of Peru?\n\n### Response:\n"


def test_alpaca_prompt_with_input(plain):
    prompt = build_prompt(plain, "alpaca", "Name the capital of {this} country.", "Peru")
    assert (
        prompt
        == "### Instruction:\nName the capital of {this} country.\n\n### Input:\nPeru\n\n### Response:\n"
    )


def test_whitespace_only_input_counts_as_none(plain):
    assert build_prompt(plain, "alpaca", "Hi.", "  ") == build_prompt(plain, "alpaca", "Hi.", "")


def test_auto_follows_the_tokenizer(plain, chat):
    assert resolve_format(plain, "auto") == "alpaca"
    assert resolve_format(chat, "auto") == "chat_template"
    assert resolve_format(chat, "alpaca") == "alpaca"


def test_chat_template_without_a_template_is_refused(plain):
    with pytest.raises(LionError, match="no chat template"):
        resolve_format(plain, "chat_template")


def test_unknown_format_is_refused(plain):
    with pytest.raises(LionError, match="prompt_format"):
        resolve_format(plain, "vicuna")


def test_chat_prompt_is_the_template_with_the_generation_prompt(chat):
    prompt = build_prompt(chat, "chat_template", "What is the capital of Peru?", "")
    assert prompt == "<s>user:\nWhat is the capital of Peru?</s>\n<s>assistant:\n"


def test_chat_prompt_carries_the_input(chat):
    prompt = build_prompt(chat, "chat_template", "Name the capital of this country.", "Peru")
    assert prompt.startswith("<s>user:\nName the capital of this country.")
    assert "Peru" in prompt and prompt.endswith("<s>assistant:\n")
