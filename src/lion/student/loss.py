"""How hard an answer is for the student, measured by the student itself and no LLM call.

Cherry LLM's Instruction-Following Difficulty (IFD) divides the student's loss on an answer
written after its prompt by its loss on the same answer with no prompt. Well below 1, the
instruction is what makes the answer predictable, so the student can already follow it; near
or above 1, the instruction does not help it, which marks the example as hard. Both losses are
taken on the tokens imitation training puts in its loss, rendered in the same prompt format, so
the signal is about the very thing training would ask of the student.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lion.core.cpu_time import metered
from lion.core.progress import bar
from lion.student.format import Format, adds_special_tokens, build_prompt, resolve_format, user_message
from lion.student.model import cuda_bf16, library_bars_off, load_model, load_tokenizer


@dataclass(frozen=True)
class AnswerLoss:
    """The student's mean token loss (natural log) on one answer, after its prompt and alone."""

    given: float
    alone: float

    @property
    def ifd(self) -> float:
        """`given / alone`. An answer that costs nothing alone (a zero loss, also what an answer
        with no token to score gets) cannot be made easier by its prompt: any cost given the
        prompt is infinitely harder, and none at all is as easy as alone (1.0)."""
        if self.alone == 0:
            return 1.0 if self.given == 0 else math.inf
        return self.given / self.alone


@dataclass(frozen=True)
class _Scored:
    """A sequence to run through the student; its tokens from `start` on count in the loss."""

    ids: list[int]
    start: int


def _sequences(tokenizer: PreTrainedTokenizerBase, fmt: Format, instruction: str, input: str, answer: str) -> tuple[_Scored, _Scored]:
    """The answer after its prompt and alone, tokenized as imitation training tokenizes them.

    Given the prompt, the scored tokens start where the tokenized prompt and prompt+completion
    part (TRL's rule: usually right after the prompt, earlier when the tokens merge across the
    boundary or a template renders the prompt differently alone). The completion is what
    training teaches: the answer and EOS for Alpaca, the assistant turn with the template's own
    end-of-turn for a chat template.

    Alone, the completion text (for a chat template, the rendered conversation less the
    rendered prompt) is tokenized as a text of its own, with whatever the tokenizer adds at the
    start of a text (a BOS where it adds one). Every token after the first is scored, so with a
    BOS the whole answer is, as given the prompt; without one the first answer token, having no
    context at all, is left out.
    """
    prompt = build_prompt(tokenizer, fmt, instruction, input)
    if fmt == "alpaca":
        full = prompt + answer + tokenizer.eos_token
    else:
        turns = [*user_message(instruction, input), {"role": "assistant", "content": answer}]
        full = tokenizer.apply_chat_template(turns, tokenize=False)
    special = adds_special_tokens(fmt)
    prompt_ids = tokenizer(prompt, add_special_tokens=special).input_ids
    full_ids = tokenizer(full, add_special_tokens=special).input_ids
    completion = full[len(os.path.commonprefix([prompt, full])) :]
    alone_ids = tokenizer(completion).input_ids
    return _Scored(full_ids, max(1, len(os.path.commonprefix([prompt_ids, full_ids])))), _Scored(alone_ids, 1)


def _mean_losses(model: PreTrainedModel, batch: list[_Scored], pad_id: int) -> list[float]:
    """Each sequence's mean loss over its scored tokens, in one padded forward pass.

    Padding goes on the right: a causal model's real tokens never see what follows them, so
    the default positions and a mask over the padding give every sequence the logits it gets
    on its own. A sequence with no scored token gets 0.0.
    """
    width = max(len(s.ids) for s in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(ids)
    scored = torch.zeros((len(batch), width), dtype=torch.bool)
    for row, s in enumerate(batch):
        ids[row, : len(s.ids)] = torch.tensor(s.ids)
        attention[row, : len(s.ids)] = 1
        scored[row, s.start : len(s.ids)] = True
    ids, attention, scored = ids.to(model.device), attention.to(model.device), scored.to(model.device)
    logits = model(input_ids=ids, attention_mask=attention).logits
    targets = scored[:, 1:]  # token t is predicted by the logits at t - 1
    nll = torch.nn.functional.cross_entropy(logits[:, :-1][targets].float(), ids[:, 1:][targets], reduction="none")
    rows = targets.nonzero()[:, 0]
    sums = torch.zeros(len(batch), device=model.device).index_add_(0, rows, nll)
    counts = targets.sum(dim=1)
    return [s / c if c else 0.0 for s, c in zip(sums.tolist(), counts.tolist())]


@metered("student")
def answer_losses(
    model_dir: Path,
    triples: list[tuple[str, str, str]],
    prompt_format: str,
    batch_size: int,
    threads: int,
    label: str,
) -> list[AnswerLoss]:
    """The student's loss on each (instruction, input, answer)'s answer, given its prompt and
    alone, in input order; `prompt_format` as in the student config (`auto` resolves).

    Batches hold `batch_size` triples, longest first so that each pads little and one too big
    for memory fails at once; the model loads only when there is something to score.
    """
    if not triples:
        return []
    torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if cuda_bf16() else torch.float32
    tokenizer = load_tokenizer(model_dir)
    fmt = resolve_format(tokenizer, prompt_format)  # a wrong format fails before the weights load
    pairs = [_sequences(tokenizer, fmt, *triple) for triple in triples]
    with library_bars_off():
        model = load_model(model_dir, dtype).to(device).eval()
    order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0].ids))
    losses: dict[int, AnswerLoss] = {}
    with bar(label, len(pairs)) as advance, torch.inference_mode():
        for first in range(0, len(order), batch_size):
            chunk = order[first : first + batch_size]
            given = _mean_losses(model, [pairs[i][0] for i in chunk], tokenizer.pad_token_id)
            alone = _mean_losses(model, [pairs[i][1] for i in chunk], tokenizer.pad_token_id)
            losses.update((i, AnswerLoss(g, a)) for i, g, a in zip(chunk, given, alone))
            advance(len(chunk))
    return [losses[i] for i in range(len(pairs))]
