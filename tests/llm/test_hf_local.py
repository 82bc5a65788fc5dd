"""HFLocalChatModel against a tiny chat model built offline and loaded through from_pretrained."""

import asyncio
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from lion.core.chat import Completion, Decoding
from lion.core.config import LocalOptions, TinyStudentConfig
from lion.core.errors import LionError
from lion.llm.backends.hf_local import HFLocalChatModel
from lion.student.tiny import llama_config, train_tokenizer

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}:\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant:\n{% endif %}"
)
SENTENCES = [
    "user", "assistant", "system",
    "What is the capital of Peru?", "It is Lima.",
    "Name a large animal that lives in the sea.", "A whale lives in the sea.",
    "Write a short poem about the moon and the quiet night.", "The moon is bright tonight.",
    "Give three colours.", "Red, green and blue.",
]
# ten requests of different lengths, so a batch of them needs left padding
QUESTIONS = [
    "What is the capital of Peru?", "Give three colours.", "It is Lima.", "What is",
    "Name a large animal that lives in the sea.", "Red, green and blue.", "Give three",
    "Write a short poem about the moon and the quiet night.", "A whale lives in the sea.",
    "The moon is bright tonight.",
]
GREEDY = Decoding(temperature=0.0, top_p=1.0, max_tokens=8)


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`plain`: no chat template; `chat`: the same model with one; `stops`: every token ends a turn.

    The weights start wider than Llama's default and the output head is untied: a tiny model
    initialised the default way only repeats the prompt's last token, whatever the prompt,
    which would make comparing answers meaningless.
    """
    root = tmp_path_factory.mktemp("hf_local")
    tokenizer = train_tokenizer(SENTENCES, max_positions=128)
    tiny = TinyStudentConfig(hidden_size=32, layers=2, heads=2, max_positions=128)
    config = llama_config(tokenizer, tiny)
    config.tie_word_embeddings, config.initializer_range = False, 0.1
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    for name in ("plain", "chat", "stops"):
        tokenizer.chat_template = None if name == "plain" else CHAT_TEMPLATE
        tokenizer.save_pretrained(root / name)
        if name == "stops":
            model.generation_config.eos_token_id = list(range(len(tokenizer)))
        model.save_pretrained(root / name)
    return {name: root / name for name in ("plain", "chat", "stops")}


@pytest.fixture
def generate_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch size of every `generate` call the loaded Llama makes."""
    calls: list[int] = []
    original = LlamaForCausalLM.generate

    def counted(self, *args, **kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LlamaForCausalLM, "generate", counted)
    return calls


def local(folder: Path, batch_size: int = 4) -> HFLocalChatModel:
    options = LocalOptions(device="cpu", batch_size=batch_size)
    return HFLocalChatModel(str(folder), options, threads=1)


def gather(chat: HFLocalChatModel, requests: list[tuple[str, Decoding, int]]) -> list[Completion]:
    """The requests sent at once, as the dispatcher sends them, on a fresh event loop."""

    async def go() -> list[Completion]:
        calls = (chat.complete(ask(text), decoding, sample) for text, decoding, sample in requests)
        return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), timeout=60)

    return asyncio.run(go())


def one(chat: HFLocalChatModel, text: str, decoding=GREEDY, sample: int = 0) -> Completion:
    return gather(chat, [(text, decoding, sample)])[0]


def test_a_call_answers_with_usage_and_length_when_the_model_rambles(folders):
    chat = local(folders["chat"])
    assert chat.name == str(folders["chat"])
    out = one(chat, QUESTIONS[0])
    tokenizer = AutoTokenizer.from_pretrained(folders["chat"])
    prompt = tokenizer.apply_chat_template(
        ask(QUESTIONS[0]), add_generation_prompt=True, tokenize=False
    )
    assert isinstance(out, Completion) and out.text
    assert out.finish_reason == "length"
    assert out.usage.prompt_tokens == len(tokenizer(prompt, add_special_tokens=False).input_ids)
    assert out.usage.completion_tokens == GREEDY.max_tokens


def test_an_answer_ends_at_the_first_stop_token(folders):
    out = one(local(folders["stops"]), QUESTIONS[0])
    assert (out.text, out.finish_reason, out.usage.completion_tokens) == ("", "stop", 1)


def test_concurrent_calls_are_batched_and_greedy_answers_equal_those_asked_alone(
    folders, generate_calls
):
    chat = local(folders["chat"], batch_size=4)
    together = gather(chat, [(q, GREEDY, 0) for q in QUESTIONS])
    assert generate_calls == [4, 4, 2]
    # Exact equality holds in fp32 with left padding: padded positions are masked out of
    # attention and generate counts positions from each row's first real token, so a row's
    # logits differ from its solo run only by float rounding (about 1e-6 here, against gaps
    # between the two best tokens of 7e-4 and more). In bf16 the rounding is far larger, and
    # a near-tie can then flip between a batched and a solo answer.
    assert together == [one(chat, q) for q in QUESTIONS]
    assert len({c.text for c in together}) == len(QUESTIONS)  # answers depend on the prompt
    assert {c.finish_reason for c in together} == {"stop", "length"}  # rows end apart
    assert generate_calls[3:] == [1] * len(QUESTIONS)


def test_only_requests_with_the_same_decoding_share_a_batch(folders, generate_calls):
    warm = Decoding(temperature=1.0, top_p=0.9, max_tokens=8)
    requests = [(q, GREEDY if i % 2 else warm, 0) for i, q in enumerate(QUESTIONS[:6])]
    gather(local(folders["chat"], batch_size=8), requests)
    assert generate_calls == [3, 3]


def test_a_caller_that_gives_up_is_not_generated_for(folders, generate_calls):
    chat = local(folders["chat"])

    async def go() -> list[Completion]:
        calls = [asyncio.ensure_future(chat.complete(ask(q), GREEDY)) for q in QUESTIONS[:3]]
        await asyncio.sleep(0)  # all three are queued
        calls[1].cancel()  # as a dispatcher's timeout would
        return await asyncio.gather(*calls, return_exceptions=True)

    first, dropped, last = asyncio.run(go())
    assert isinstance(dropped, asyncio.CancelledError)
    assert (first, last) == (one(chat, QUESTIONS[0]), one(chat, QUESTIONS[2]))
    assert generate_calls == [2, 1, 1]


def test_sampling_is_reproducible_per_request_and_sample(folders):
    chat = local(folders["chat"])
    warm = Decoding(temperature=1.0, top_p=1.0, max_tokens=12)
    first = one(chat, QUESTIONS[2], warm, sample=0)
    assert one(chat, QUESTIONS[2], warm, sample=0) == first
    assert len({one(chat, QUESTIONS[2], warm, sample=s).text for s in range(4)}) > 1
    # a batch seeds from its requests, not from the order they arrived in
    pair = [(QUESTIONS[2], warm, 0), (QUESTIONS[5], warm, 0)]
    assert gather(chat, pair) == gather(chat, pair[::-1])[::-1]


def test_a_tokenizer_without_chat_template_is_refused_in_one_sentence(folders):
    chat = local(folders["plain"])
    error = one(chat, QUESTIONS[0])
    assert isinstance(error, LionError)
    assert str(folders["plain"]) in str(error) and "chat template" in str(error)
    with pytest.raises(LionError, match="chat template"):
        asyncio.run(chat.check())


def test_a_missing_model_fails_on_the_first_call_or_check_not_before(tmp_path):
    chat = local(tmp_path / "missing")
    assert isinstance(one(chat, QUESTIONS[0]), LionError)
    with pytest.raises(LionError, match="missing"):
        asyncio.run(chat.check())


def test_check_loads_the_tokenizer_but_not_the_weights(folders):
    chat = local(folders["chat"])
    asyncio.run(chat.check())
    assert chat._model is None


def test_a_failing_generate_reaches_every_caller_and_the_model_recovers(folders, monkeypatch):
    chat = local(folders["chat"], batch_size=4)

    def broken(self, *args, **kwargs):
        raise RuntimeError("out of memory")

    with monkeypatch.context() as patch:
        patch.setattr(LlamaForCausalLM, "generate", broken)
        failed = gather(chat, [(q, GREEDY, 0) for q in QUESTIONS[:6]])
    assert all(isinstance(e, RuntimeError) and str(e) == "out of memory" for e in failed)
    assert isinstance(one(chat, QUESTIONS[0]), Completion)


def test_aclose_frees_the_model_and_a_later_call_loads_it_again(folders):
    chat = local(folders["chat"])

    async def answer_then_close() -> Completion:
        out = await chat.complete(ask(QUESTIONS[1]), GREEDY)
        await chat.aclose()
        return out

    first = asyncio.run(answer_then_close())
    assert chat._model is None
    assert one(chat, QUESTIONS[1]) == first
