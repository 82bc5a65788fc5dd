"""What the served arena's two APIs (OpenAI's and Anthropic's) share: their options, the fault
draw, the log of answers, and the replies that misbehave on purpose.

Both APIs answer from the same chat models and draw faults from the same seeded stream, so a
server faulting half its requests does so whichever API a client speaks, and `/stats` counts
every answer in one log: a request answered twice is caught whichever way it came.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lion.arena.batches import BatchOptions
from lion.arena.chat import MODELS, ArenaChatModel
from lion.core.chat import Decoding, Message
from lion.core.config import ArenaOptions, Strict
from lion.core.errors import LionError

FaultKind = Literal["429", "500", "hang", "truncated", "malformed", "529"]
# "529" (overloaded, Anthropic's) is drawn only when named, so seeded draws of the others stay as they were
DEFAULT_FAULT_KINDS: tuple[FaultKind, ...] = ("429", "500", "hang", "truncated", "malformed")

JSON_TYPE = "application/json"
CUT_MESSAGE = "ASGI callable returned without completing response."


class ServeOptions(Strict):
    """How the served arena behaves: its delay, its faults, its key, its cache and its roles' options."""

    latency_s: float = Field(0.0, ge=0, description="seconds added to every completion reply")
    fault_rate: float = Field(0.0, ge=0, le=1, description="share of completion requests that fail")
    fault_kinds: list[FaultKind] = Field(
        default_factory=lambda: list(DEFAULT_FAULT_KINDS), min_length=1, description="drawn uniformly"
    )
    retry_after_s: float = Field(1.0, ge=0, description="the Retry-After sent with a 429 or a 529")
    hang_s: float = Field(600.0, ge=0, description="how long a hung request is held, then dropped")
    seed: int = Field(0, description="seeds the fault draw")
    structured: bool = Field(
        True, description="serve JSON-schema replies (OpenAI's response_format, Anthropic's forced tool); "
        "off, refuse them as servers without them do"
    )
    api_key_env: str | None = Field(
        None, description="the environment variable holding the key clients must send"
    )
    chat_template: bool = Field(
        False, description="bill OpenAI-API prompts with a chat template's tokens, as servers of open models do"
    )
    cache_min_tokens: int = Field(
        1024, ge=1, description="the shortest prompt prefix Anthropic's API caches (1024 for Claude Sonnet)"
    )
    cache_ttl_s: float = Field(300.0, gt=0, description="how long a cached prefix lives unread ('5m' entries)")
    batch: BatchOptions = Field(default_factory=BatchOptions, description="how both APIs' batches behave")
    arena: dict[str, ArenaOptions] = Field(
        default_factory=dict, description="per arena model; models not named get the defaults"
    )

    @field_validator("arena")
    @classmethod
    def _known_models(cls, arena: dict[str, ArenaOptions]) -> dict[str, ArenaOptions]:
        unknown = sorted(set(arena) - set(MODELS))
        if unknown:
            raise ValueError(f"unknown arena model {unknown[0]!r}; choose from {', '.join(MODELS)}")
        return arena


class Loose(BaseModel):
    """A request body: fields we do not use are ignored, as compatible servers do; null means default."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


def first_problem(error: ValidationError) -> tuple[str | None, str]:
    """The field at fault (dotted, None for the body itself) and a message naming it, as both APIs word it."""
    first = error.errors(include_url=False, include_input=False)[0]
    param = ".".join(str(p) for p in first["loc"]) or None
    return param, f"{param or 'body'}: {first['msg']}"


def not_json(error: ValidationError) -> bool:
    """Whether a body failed to validate because it is not JSON at all."""
    return error.errors()[0]["type"].startswith("json")


def read_key(env: str | None) -> bytes | None:
    if env is None:
        return None
    key = os.environ.get(env, "")
    if not key:
        raise LionError(f"the environment variable {env} holds no API key for the arena server.")
    return key.encode("utf-8")


class ServedArena:
    """Chat models, the fault draw and the counters of one served arena, whichever API asks."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.key = read_key(options.api_key_env)
        self.models = {m: ArenaChatModel(m, options.arena.get(m, ArenaOptions())) for m in MODELS}
        self.rng = random.Random(options.seed)
        self.requests = 0
        # the default kinds always, an opt-in kind (529) only on a server that draws it
        self.faults = dict.fromkeys((*DEFAULT_FAULT_KINDS, *options.fault_kinds), 0)
        self.answers: dict[bytes, tuple[int, float]] = {}  # request -> (times answered, first answer's time)
        self.answered = 0
        self.answered_twice = 0
        self.first_of_repeats: list[float] = []  # when each request answered again was first answered

    def draw_fault(self) -> FaultKind | None:
        if self.options.fault_rate <= 0 or self.rng.random() >= self.options.fault_rate:
            return None
        kind = self.rng.choice(self.options.fault_kinds)
        self.faults[kind] += 1
        return kind

    def malformed_cut(self) -> bool:
        """Which malformed body to send: one cut off (True) or whole JSON that is no reply (False)."""
        return self.rng.random() < 0.5

    @staticmethod
    def _key(model: str, messages: list[Message], decoding: Decoding, seed: int | None) -> bytes:
        """A request's identity in the log; `seed` None is a request without one (Anthropic's API)."""
        request = [
            model, messages, decoding.temperature, decoding.top_p, decoding.max_tokens, decoding.json_schema, seed
        ]
        return hashlib.sha256(json.dumps(request).encode("utf-8")).digest()

    def times_answered(self, model: str, messages: list[Message], decoding: Decoding, seed: int | None) -> int:
        return self.answers.get(self._key(model, messages, decoding, seed), (0, 0.0))[0]

    def recorder(self, model: str, messages: list[Message], decoding: Decoding, seed: int | None) -> Callable[[], None]:
        """What to call once the answer to this request has been sent."""
        key = self._key(model, messages, decoding, seed)

        def record() -> None:
            self.answered += 1
            seen, first = self.answers.get(key, (0, time.time()))
            self.answers[key] = (seen + 1, first)
            if seen == 1:
                self.answered_twice += 1
                self.first_of_repeats.append(first)

        return record

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "faults": dict(self.faults),
            "answered": self.answered,
            "answered_distinct": len(self.answers),
            "answered_twice": self.answered_twice,
            # Unix times: a client that was killed lost the answers in flight, which shows as
            # repeats first answered just before the kill
            "first_of_repeats": self.first_of_repeats,
        }


# --- replies that misbehave, and the one that is counted once delivered ----------------------


async def _cut(send: Send, body: bytes, keep: int) -> None:
    """Promise `body` in content-length, send its first `keep` bytes, then let the server close.

    Returning with the response unfinished is how an ASGI app makes the server drop the
    connection; the client then sees a body that ended early, as after a crashed proxy.
    """
    headers = [(b"content-type", JSON_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body[:keep], "more_body": True})


async def _disconnect(receive: Receive) -> None:
    """Returns when the client has gone; the request body must have been read already."""
    while (await receive())["type"] != "http.disconnect":
        pass


class Hang:
    """Holds the request unanswered until the client gives up or `hang_s` passes, then drops it.

    A server shutting down cancels it; that ends the wait the same way, without a traceback.
    """

    def __init__(self, hang_s: float) -> None:
        self.hang_s = hang_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(_disconnect(receive), self.hang_s)
        await _cut(send, b"{}", 0)


class Truncated:
    """The full reply's length announced, half of its bytes sent."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _cut(send, self.body, len(self.body) // 2)


class Delivered(Response):
    """A reply that is counted as answered once its last byte has been handed over."""

    def __init__(self, body: bytes, on_sent: Callable[[], None], headers: dict[str, str] | None = None) -> None:
        super().__init__(body, headers=headers, media_type=JSON_TYPE)
        self.on_sent = on_sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)
        self.on_sent()
