"""Loading a student folder the way both training and generation need it."""

from __future__ import annotations

import warnings
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

from lion.core.errors import LionError
from lion.core.hub import HubUnreachable, hub_online, is_hub_name, offline_reason


def cuda_bf16() -> bool:
    """bf16 only where the GPU computes it natively; CPUs train and generate in fp32."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    """The student's tokenizer, with a pad token (many base models ship none) and left padding.

    Left padding puts every prompt's last token at the end of the batch, where generation
    continues from; training pads on its own and is unaffected.
    """
    online = _hub_online(model_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except OSError as e:
        raise _cannot_load(model_dir, e, online) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def is_adapter(model_dir: Path) -> bool:
    """A LoRA student: an adapter folder naming its base model, not full weights."""
    return (Path(model_dir) / "adapter_config.json").is_file()


def load_model(
    model_dir: Path, dtype: torch.dtype, *, train_adapter: bool = False, four_bit: bool = False
) -> PreTrainedModel:
    """A student folder as a model. Full weights load as they are. An adapter loads on its base
    model, merged into it (for generation, and for full training from it) or, with
    `train_adapter`, as an adapter to go on training. `four_bit` loads the weights quantized
    for QLoRA (CUDA and bitsandbytes only)."""
    quantized = {"quantization_config": four_bit_config()} if four_bit else {}
    online = _hub_online(model_dir)
    try:
        if is_adapter(model_dir):
            from peft import AutoPeftModelForCausalLM

            with peft_quiet():
                model = AutoPeftModelForCausalLM.from_pretrained(
                    model_dir, dtype=dtype, is_trainable=train_adapter, **quantized
                )
                return model if train_adapter else model.merge_and_unload()
        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, **quantized)
    except OSError as e:
        raise _cannot_load(model_dir, e, online) from None


@contextmanager
def peft_quiet() -> Iterator[None]:
    """peft still reads a property that transformers renamed, and transformers warns each time."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        yield


def four_bit_config() -> object:
    """QLoRA's quantization: 4-bit NormalFloat weights, double-quantized, computing in bf16."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16
    )


def _hub_online(model_dir: Path) -> bool:
    """Whether a load may fetch from the Hub: decided once, quickly, before the first load by Hub
    name (`lion.core.hub`), so that an unreachable Hub costs no half minute of retries per file."""
    return not is_hub_name(model_dir) or hub_online(str(model_dir), "model")


def _cannot_load(model_dir: Path, error: OSError, online: bool = True) -> LionError:
    """One sentence instead of the Hub client's traceback, e.g. for a mistyped folder."""
    if not Path(model_dir).exists() and not online:
        return HubUnreachable(f"{model_dir}: no model could be loaded from there (no such folder, it is not in this "
                              f"machine's Hugging Face cache, and {offline_reason()}).")
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
