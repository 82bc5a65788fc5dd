"""How an instruction is shown to the student, the same way in training and in generation.

Two formats exist. `alpaca` is the paper's: plain `### Instruction:` / `### Response:` headers,
short enough for a from-scratch model to learn. `chat_template` uses the tokenizer's own
template, which an instruction-tuned model was trained with and answers best in.
"""

from __future__ import annotations

from typing import Literal

from transformers import PreTrainedTokenizerBase

from lion.core.errors import LionError
from lion.core.prompts import input_block, template

Format = Literal["alpaca", "chat_template"]


def resolve_format(tokenizer: PreTrainedTokenizerBase, wanted: str) -> Format:
    """`auto` picks the chat template when the tokenizer ships one, else Alpaca."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if wanted == "auto":
        return "chat_template" if has_template else "alpaca"
    if wanted == "chat_template" and not has_template:
        raise LionError(
            "student.prompt_format is 'chat_template' but the student's tokenizer has no chat "
            "template; set student.prompt_format to 'alpaca' or 'auto'."
        )
    if wanted not in ("alpaca", "chat_template"):
        raise LionError(
            f"student.prompt_format must be auto, alpaca or chat_template, not {wanted!r}."
        )
    return wanted


def alpaca_prompt(instruction: str, input: str) -> str:
    """The Alpaca prompt; it ends with the newline after `### Response:`, where the answer starts."""
    name = "student_alpaca_input" if input.strip() else "student_alpaca"
    return template(name).format(instruction=instruction, input=input)


def user_message(instruction: str, input: str) -> list[dict[str, str]]:
    """The single user turn a chat-tuned student sees: the instruction and its optional input."""
    return [{"role": "user", "content": instruction + input_block(input)}]


def build_prompt(
    tokenizer: PreTrainedTokenizerBase, fmt: Format, instruction: str, input: str
) -> str:
    """The full prompt text; the student's answer is whatever it writes after it."""
    if fmt == "alpaca":
        return alpaca_prompt(instruction, input)
    return tokenizer.apply_chat_template(
        user_message(instruction, input), tokenize=False, add_generation_prompt=True
    )


def build_conversation(
    tokenizer: PreTrainedTokenizerBase, fmt: Format, turns: list[str], answers: list[str]
) -> str:
    """The prompt for the last of `turns`, after the student's own answers to the earlier ones:
    the chat template's turns, or Alpaca exchanges one after another."""
    if fmt == "alpaca":
        return "".join(alpaca_prompt(t, "") + a + "\n\n" for t, a in zip(turns, answers)) + alpaca_prompt(turns[-1], "")
    messages = [m for t, a in zip(turns, answers) for m in ({"role": "user", "content": t}, {"role": "assistant", "content": a})]
    return tokenizer.apply_chat_template(
        [*messages, {"role": "user", "content": turns[-1]}], tokenize=False, add_generation_prompt=True
    )


def adds_special_tokens(fmt: Format) -> bool:
    """Whether prompt text is tokenized with the tokenizer's BOS/EOS additions.

    A chat template already writes its special tokens into the text, so adding them again
    would give the model a double BOS it never saw in training; Alpaca text carries none.
    """
    return fmt == "alpaca"
