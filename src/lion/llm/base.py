"""The ChatModel protocol every role (teacher, referee, generator, judge) is called through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, TypedDict


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Decoding:
    """What decides a completion besides the messages; all of it enters the cache key."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


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
