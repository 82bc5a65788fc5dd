"""A model that can count its prompts (a local model: its tokenizer and chat template are here)
is reserved against the budget at its exact count, template included, not at a learned bound."""

import asyncio
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from lion.core.chat import CountsPromptTokens, Decoding
from lion.core.config import LocalOptions, Price, TinyStudentConfig
from lion.llm.backends.hf_local import HFLocalChatModel
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import BudgetExceeded, Call, CallSettings, Ledger, Role
from lion.student.tiny import llama_config, train_tokenizer

# a template that adds a default system line, as many open models' templates do
CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}<s>system:\nYou are a helpful assistant.</s>\n{% endif %}"
    "{% for m in messages %}<s>{{ m['role'] }}:\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant:\n{% endif %}"
)
SENTENCES = ["user", "assistant", "system", "You are a helpful assistant.", "What is the capital of Peru?",
             "It is Lima.", "Give three colours.", "Red, green and blue."]
QUICK = Decoding(temperature=0.0, max_tokens=2)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("counting") / "chat"
    tokenizer = train_tokenizer(SENTENCES, max_positions=128)
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    model = LlamaForCausalLM(llama_config(tokenizer, TinyStudentConfig(hidden_size=32, layers=2, heads=2, max_positions=128)))
    tokenizer.save_pretrained(root)
    model.save_pretrained(root)
    return root


def local(folder: Path) -> HFLocalChatModel:
    return HFLocalChatModel(str(folder), LocalOptions(device="cpu", batch_size=4), threads=1)


def test_the_count_is_what_the_answer_reports_template_included(folder):
    chat = local(folder)
    assert isinstance(chat, CountsPromptTokens)
    conversations = [
        [{"role": "user", "content": "What is the capital of Peru?"}],
        [{"role": "system", "content": "Give three colours."}, {"role": "user", "content": "Red, green and blue."}],
    ]

    async def go():
        try:
            counts = [await chat.count_prompt_tokens(ms) for ms in conversations]
            answers = await asyncio.gather(*(chat.complete(ms, QUICK) for ms in conversations))
            return counts, answers
        finally:
            await chat.aclose()

    counts, answers = asyncio.run(go())
    assert counts == [a.usage.prompt_tokens for a in answers]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    text = tokenizer(conversations[0][0]["content"], add_special_tokens=False).input_ids
    assert counts[0] > len(text) + 5  # the template's markers and its default system line are billed too


def test_a_counting_model_is_reserved_at_its_count(folder, tmp_path):
    chat = local(folder)
    messages = [{"role": "user", "content": "What is the capital of Peru?"}]
    loop = asyncio.new_event_loop()
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        count = loop.run_until_complete(chat.count_prompt_tokens(messages))
        price = Price(input_per_mtok=1e6 / count, output_per_mtok=0.0)  # $1 a call, the answers free
        role = Role("teacher", chat, QUICK, cache, "local", loop=loop, settings=CallSettings(concurrency=4, price=price),
                    ledger=Ledger(cache, 5.5))
        # the same prompt as distinct requests: each is billed `count` tokens, and so reserved, so
        # exactly five fit; a bound from four characters a token and a margin would fit fewer
        with pytest.raises(BudgetExceeded, match=r"\$5\.00 spent .* the \$0\.50 left .*: up to \$1\.00;"):
            role.run([Call(messages, sample=i) for i in range(8)], "t")
        assert cache.spend()["total"]["calls"] == 5 and cache.spent_usd() == pytest.approx(5.0)
    finally:
        loop.run_until_complete(chat.aclose())
        loop.close()
        cache.close()
