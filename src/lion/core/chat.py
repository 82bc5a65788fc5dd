"""The ChatModel protocol every role (teacher, referee, generator, judge) is called through."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypedDict, runtime_checkable

from lion.core.errors import LionError


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Decoding:
    """What decides a completion besides the messages; all of it enters the cache key."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512
    # structured output: a JSON schema (as JSON text) the reply must follow, or None for free text
    json_schema: str | None = None

    def identity(self) -> dict:
        """The settings as they enter cache keys and seeds; unset options are left out, so
        adding an option never changes the key of a request that does not use it."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Usage:
    """Tokens billed for one answer. `prompt_tokens` is the whole prompt; of it, the provider's
    prompt cache may have written `cache_write_tokens` and read `cache_read_tokens`, which it
    bills at their own prices."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: Literal["stop", "length"] = "stop"
    usage: Usage = field(default_factory=Usage)


class ChatModel(Protocol):
    """One model at one endpoint.

    `sample` numbers deliberate repeats of the same request (a retried judgement, a second
    instruction from the same parent): backends that accept a seed pass it on, and the cache
    keeps each sample apart.
    """

    @property
    def name(self) -> str: ...

    async def complete(self, messages: list[Message], decoding: Decoding, sample: int = 0) -> Completion: ...

    async def check(self) -> None:
        """Raise a LionError that says what to fix (a missing key, an unreachable server, a model
        it does not serve) before the run folder is touched, rather than on the first call."""

    async def aclose(self) -> None:
        """Release connections or memory; called once, on the event loop the calls ran on."""


@runtime_checkable
class CountsPromptTokens(Protocol):
    """An optional capability of a ChatModel: it knows the tokens a prompt will be billed as.

    A backend whose tokenizer and chat template are at hand (a local model) counts a prompt
    exactly, template included; the dispatcher then reserves a call's cost from that count
    instead of bounding an estimate from the usage the endpoint reports. Backends that cannot
    count (a remote API) leave this method out.
    """

    async def count_prompt_tokens(self, messages: list[Message]) -> int:
        """The prompt tokens `messages` will take, counted as the model will read them."""
        ...


@dataclass(frozen=True)
class BatchState:
    """A provider's batch as the run's ledger follows it, whatever the provider's API calls things.

    `status` is "in_progress" while it runs ("validating", "finalizing" and "cancelling" are
    also still running), and one of `BATCH_ENDED` once no request of it will be answered any
    more. `input_id` names what the batch was made from where the provider records it (an
    uploaded file), so a batch whose creation a killed run never recorded can be found again.
    """

    id: str
    status: str
    done: int = 0  # requests answered so far (or, for providers that count only at the end, once ended)
    failed: int = 0  # requests the provider failed
    input_id: str | None = None
    created: float = 0.0  # Unix time
    size: int = 0  # requests in the batch


BATCH_ENDED = ("completed", "expired", "cancelled", "failed")


@runtime_checkable
class SendsBatches(Protocol):
    """An optional capability of a ChatModel: its provider's Batches API, for a role in `mode:
    batch`. Each method raises `CallError` as `complete` does.

    The ledger (`lion.llm.batches`) files a batch's requests under an input id before the
    batch exists, so that a kill between the two leaves a trace: an uploaded file's id where the
    provider takes a file (OpenAI), a fresh id of our own where the batch carries its requests
    itself (Anthropic).
    """

    def request_body(self, messages: list[Message], decoding: Decoding, sample: int = 0) -> dict:
        """The request as one line of a batch carries it, the same as sent online."""
        ...

    def batch_line(self, key: str, body: dict) -> bytes:
        """One request of a batch, as the provider counts its bytes against the batch's limit."""
        ...

    async def open_batch(self, name: str, lines: list[bytes]) -> str:
        """The input id of a batch of these requests, uploading them where the provider needs that."""
        ...

    async def create_batch(self, input_id: str, lines: list[bytes], metadata: dict[str, str]) -> BatchState: ...

    async def retrieve_batch(self, batch_id: str) -> BatchState: ...

    async def cancel_batch(self, batch_id: str) -> BatchState: ...

    async def list_batches(self) -> list[BatchState]:
        """Every batch the key can see, newest first."""
        ...

    async def batch_results(self, batch: BatchState) -> list[tuple[str | None, Completion | CallError]]:
        """An ended batch's outcomes: each request's key and its answer or error; a key of None
        for a result that names no request (which is then sent again)."""
        ...


class CallError(Exception):
    """A call that failed, as its backend classifies it for the dispatcher.

    `retryable` failures (rate limits, server errors, timeouts, broken or malformed replies)
    are tried again after a back-off; others (a request the server rejects) fail the item at
    once; `fatal` ones (a refused key, an unknown model) stop the run, since every later call
    would fail the same way. `retry_after` is the server's own wait, in seconds, when it sent one.
    """

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None, fatal: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.fatal = fatal

    def as_lion(self) -> LionError:
        return LionError(self.reason.rstrip(".") + ".")


def estimate_tokens(text: str) -> int:
    """A model-independent token estimate (about 4 characters per token in English text).

    Used only where no tokenizer's count exists: servers that report no usage, and, scaled by
    what the endpoint is seen to bill (`lion.llm.pricing.PromptMeter`), the budget and rate
    limits, which must reserve ahead of a call. It sees the text only, never a chat template.
    """
    return max(1, -(-len(text) // 4))
