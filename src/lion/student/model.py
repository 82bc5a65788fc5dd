"""Loading a student folder the way both training and generation need it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import datasets
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from lion.errors import LionError


def cuda_bf16() -> bool:
    """bf16 only where the GPU computes it natively; CPUs train and generate in fp32."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    """The student's tokenizer, with a pad token (many base models ship none) and left padding.

    Left padding puts every prompt's last token at the end of the batch, where generation
    continues from; training pads on its own and is unaffected.
    """
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except OSError as e:
        raise _cannot_load(model_dir, e) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_model(model_dir: Path, dtype: torch.dtype) -> PreTrainedModel:
    try:
        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    except OSError as e:
        raise _cannot_load(model_dir, e) from None


def _cannot_load(model_dir: Path, error: OSError) -> LionError:
    """One sentence instead of the Hub client's traceback, e.g. for a mistyped folder."""
    if not Path(model_dir).exists():
        reason = "no such folder, and no model by that name could be fetched from the Hub"
    else:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return LionError(f"{model_dir}: no model could be loaded from there ({reason}).")


@contextmanager
def library_bars_off() -> Iterator[None]:
    """Silence the bars Hugging Face libraries draw for every load, save and dataset map.

    The project draws its own progress bars; theirs would interleave with ours on stderr.
    The previous setting is restored, so a caller that wants them keeps them elsewhere.
    """
    hf_on, ds_on = hf_logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if hf_on:
            hf_logging.enable_progress_bar()
        if ds_on:
            datasets.enable_progress_bars()
