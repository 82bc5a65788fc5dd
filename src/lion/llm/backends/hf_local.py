"""Roles played by a Hugging Face chat model inside this process.

A user with a GPU can then make an open model the teacher, referee, generator or judge without
running and babysitting an inference server. The dispatcher calls a role many times at once;
those calls are gathered into batches here, because one batched `generate` costs little more
than a single one, and the batch runs in a worker thread so the event loop keeps serving the
cache and the other roles meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lion.core.chat import Completion, Decoding, Message, Usage
from lion.core.config import LocalOptions, RoleConfig
from lion.core.errors import LionError
from lion.student.generate import stop_ids
from lion.student.model import cuda_bf16, library_bars_off, load_model, load_tokenizer

# One generation at a time in this process: a sampled batch seeds torch's global generator,
# and another model generating meanwhile would draw from it and change the answers.
_GENERATE_LOCK = threading.Lock()

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True, eq=False)
class _Request:
    messages: list[Message]
    decoding: Decoding
    sample: int
    future: asyncio.Future[Completion]

    def digest(self) -> str:
        """What decides the answer, hashed; it orders a batch and seeds its sampling."""
        payload = {
            "messages": self.messages, "decoding": self.decoding.identity(), "sample": self.sample
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class HFLocalChatModel:
    """A chat model from a local folder or the Hub; nothing loads until the first call.

    A run whose answers are all cached therefore never loads the model at all.
    """

    def __init__(self, model: str, options: LocalOptions, threads: int) -> None:
        self._name = model
        self._options = options
        self._threads = threads
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._model: PreTrainedModel | None = None
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task[None] | None = None
        # a fast tokenizer is not to be used from two threads at once: each call switches its
        # padding on or off, and a prompt counted while a batch is padded or decoded would fail
        self._tokenizing = threading.Lock()

    @classmethod
    def from_role(cls, role: str, cfg: RoleConfig, threads: int) -> HFLocalChatModel:
        return cls(cfg.model, cfg.local, threads)

    @property
    def name(self) -> str:
        return self._name

    async def complete(
        self, messages: list[Message], decoding: Decoding, sample: int = 0
    ) -> Completion:
        future = asyncio.get_running_loop().create_future()
        self._queue_on_this_loop().put_nowait(_Request(messages, decoding, sample, future))
        return await future

    async def count_prompt_tokens(self, messages: list[Message]) -> int:
        """The tokens `messages` take once the chat template lays them out, exactly as `complete`
        feeds them to the model and reports them: the budget reserves from this count.

        Counting needs only the tokenizer, so the weights still wait for the first answer.
        """
        return await asyncio.to_thread(self._count, messages)

    def _count(self, messages: list[Message]) -> int:
        tokenizer = self._chat_tokenizer()
        prompt = _chat_prompt(tokenizer, messages)
        with self._tokenizing:
            return len(tokenizer(prompt, add_special_tokens=False).input_ids)

    async def check(self) -> None:
        """Fail fast, before any stage, on a missing model or one without a chat template.

        Only the tokenizer loads here; the weights still wait for the first uncached call.
        """
        await asyncio.to_thread(self._chat_tokenizer)

    async def aclose(self) -> None:
        """Stop the worker (callers still waiting are cancelled) and free the model's memory."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        on_cuda = self._model is not None and self._model.device.type == "cuda"
        self._model = self._tokenizer = None
        self._queue = self._worker = None
        gc.collect()
        if on_cuda:
            torch.cuda.empty_cache()

    # --- batching, on the event loop -------------------------------------------------------

    def _queue_on_this_loop(self) -> asyncio.Queue[_Request]:
        """The request queue, with its worker started on the running loop when it has none.

        Each `asyncio.run` is a new loop, and the previous worker ended with its loop.
        """
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._serve(self._queue))
        return self._queue

    async def _serve(self, queue: asyncio.Queue[_Request]) -> None:
        waiting: list[_Request] = []
        try:
            while True:
                if not waiting:
                    waiting.append(await queue.get())
                while not queue.empty():
                    waiting.append(queue.get_nowait())
                batch, waiting = _next_batch(waiting, self._options.batch_size)
                if batch:
                    await self._answer(batch)
        finally:
            while not queue.empty():
                waiting.append(queue.get_nowait())
            for request in waiting:
                request.future.cancel()

    async def _answer(self, batch: list[_Request]) -> None:
        """Generate for `batch` in a thread and settle every future, whatever happens."""
        batch.sort(key=_Request.digest)
        try:
            completions = await asyncio.to_thread(
                self._generate,
                [r.messages for r in batch],
                batch[0].decoding,
                _seed(batch),
            )
        except Exception as error:  # noqa: BLE001 - each caller decides: retry or give up
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)
        else:
            for request, completion in zip(batch, completions):
                if not request.future.done():
                    request.future.set_result(completion)
        finally:
            for request in batch:
                request.future.cancel()  # a no-op for those settled above

    # --- generation, in a worker thread ----------------------------------------------------

    def _chat_tokenizer(self) -> PreTrainedTokenizerBase:
        if self._tokenizer is None:
            tokenizer = load_tokenizer(Path(self._name))
            if not tokenizer.chat_template:
                raise LionError(
                    f"{self._name}: an hf_local role needs a chat model whose tokenizer has a "
                    "chat template, and this one has none."
                )
            self._tokenizer = tokenizer
        return self._tokenizer

    def _loaded(self) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
        tokenizer = self._chat_tokenizer()
        if self._model is None:
            device = self._device()
            with library_bars_off():
                self._model = load_model(Path(self._name), self._dtype(device)).to(device).eval()
        return tokenizer, self._model

    def _device(self) -> str:
        wanted = self._options.device
        if wanted == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if wanted == "cuda" and not torch.cuda.is_available():
            raise LionError(
                f"{self._name}: local.device is cuda, but this machine has no usable CUDA GPU."
            )
        return wanted

    def _dtype(self, device: str) -> torch.dtype:
        if self._options.dtype == "auto":
            return torch.bfloat16 if device == "cuda" and cuda_bf16() else torch.float32
        return _DTYPES[self._options.dtype]

    def _generate(
        self, conversations: list[list[Message]], decoding: Decoding, seed: int
    ) -> list[Completion]:
        tokenizer, model = self._loaded()
        prompts = [_chat_prompt(tokenizer, messages) for messages in conversations]
        # the template writes the special tokens (BOS and the like) itself
        with self._tokenizing:
            batch = tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
        batch = batch.to(model.device)
        settings = _generation_settings(decoding, model, tokenizer)
        with _GENERATE_LOCK, torch.inference_mode():
            if model.device.type == "cpu":
                torch.set_num_threads(self._threads)
            torch.manual_seed(seed)
            out = model.generate(**batch, **settings)
        new_tokens = out[:, batch["input_ids"].shape[1] :].tolist()
        prompt_lengths = batch["attention_mask"].sum(dim=1).tolist()
        stops = set(settings["eos_token_id"])
        with self._tokenizing:
            return [_completion(tokenizer, ids, stops, n) for ids, n in zip(new_tokens, prompt_lengths)]


def _chat_prompt(tokenizer: PreTrainedTokenizerBase, messages: list[Message]) -> str:
    """The prompt text the model reads: the messages in its chat template, ready for its answer."""
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def _next_batch(waiting: list[_Request], size: int) -> tuple[list[_Request], list[_Request]]:
    """Up to `size` requests sharing the first live request's decoding, and the rest in order.

    Requests whose caller gave up (a timeout cancelled the future) are dropped unanswered.
    """
    live = [r for r in waiting if not r.future.done()]
    if not live:
        return [], []
    decoding = live[0].decoding
    batch = [r for r in live if r.decoding == decoding][:size]
    return batch, [r for r in live if r not in batch]


def _seed(batch: list[_Request]) -> int:
    """The batch's sampling seed: the same requests, in any order of arrival, sample alike."""
    joined = "".join(r.digest() for r in batch)
    return int(hashlib.sha256(joined.encode()).hexdigest()[:16], 16)


def _generation_settings(
    decoding: Decoding, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase
) -> dict[str, Any]:
    """`decoding` as keyword arguments of `generate`.

    Settings `decoding` does not name (a repetition penalty, top-k) come from the model's own
    generation config, as an inference server would apply them; the library's blanket top-k
    of 50 for models that name none is switched off, since chat APIs sample without one.
    Keywords, unlike a GenerationConfig, keep the sampling settings a chat model ships with
    from drawing a warning when this call decodes greedily.
    """
    settings: dict[str, Any] = {
        "do_sample": decoding.temperature > 0,
        "num_beams": 1,
        "max_new_tokens": decoding.max_tokens,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": stop_ids(model.generation_config.eos_token_id, tokenizer),
    }
    if settings["do_sample"]:
        settings |= {
            "temperature": decoding.temperature,
            "top_p": decoding.top_p,
            "top_k": model.generation_config.top_k or 0,
        }
    return settings


def _completion(
    tokenizer: PreTrainedTokenizerBase, new_ids: list[int], stops: set[int], prompt_tokens: int
) -> Completion:
    """One row of a batch's output: the answer up to its first stop token, or all of it."""
    end = next((i for i, token in enumerate(new_ids) if token in stops), None)
    text = tokenizer.decode(new_ids[:end], skip_special_tokens=True).strip()
    if end is None:
        return Completion(text, "length", Usage(prompt_tokens, len(new_ids)))
    return Completion(text, "stop", Usage(prompt_tokens, end + 1))  # the stop token counts
